// libc syslog(3). The message is always passed as an argument to "%s", never
// as the format. Calling variadic syslog through a fixed (int, char*, char*)
// prototype is ABI-safe on x86_64 and aarch64 Linux for integer and pointer
// arguments (no floating-point registers are involved).
import { dlopen } from "bun:ffi";
import { cstr } from "./libc";

const c = dlopen("libc.so.6", {
  openlog: { args: ["ptr", "i32", "i32"], returns: "void" },
  syslog: { args: ["i32", "ptr", "ptr"], returns: "void" },
  closelog: { args: [], returns: "void" },
}).symbols;

export const LOG_PID = 0x01;
export const LOG_NDELAY = 0x08;
export const LOG_DAEMON = 3 << 3;
export const LOG_ERR = 3;
export const LOG_WARNING = 4;
export const LOG_INFO = 6;
export const LOG_DEBUG = 7;

const FORMAT = cstr("%s");
// openlog keeps the ident pointer: it must live as long as the process.
let ident: Buffer | null = null;

export function openlog(name: string, option: number, facility: number): void {
  ident = cstr(name);
  c.openlog(ident, option, facility);
}

export function syslog(priority: number, message: string): void {
  c.syslog(priority, FORMAT, cstr(message));
}

export function closelog(): void {
  c.closelog();
}
