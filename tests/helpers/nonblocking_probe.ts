// Run with a terminal as stdout (log_nonblocking.test.ts): says whether
// NonBlockingFd wrote through a non-blocking description of its own and left
// the terminal's shared one blocking.
import { isatty } from "node:tty";
import { isNonBlocking } from "../../src/ffi/libc";
import { NonBlockingFd } from "../../src/log/nonblocking";

const out = new NonBlockingFd(1);
out.write("probe\n");
console.log(
  `tty=${isatty(1)} own=${out.fd !== 1} own-nonblocking=${isNonBlocking(out.fd)} shared-nonblocking=${isNonBlocking(1)}`,
);
