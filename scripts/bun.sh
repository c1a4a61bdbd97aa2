# Sourced by the scripts: BUN is the project's pinned Bun (package.json), from
# node_modules/.bin, or straight from its platform package when the bun
# package's postinstall did not run (npm may hold install scripts back).
case "$(uname -m)" in
	aarch64) bun_platform=linux-aarch64 ;;
	*) bun_platform=linux-x64 ;;
esac
BUN=node_modules/.bin/bun
"$BUN" --version >/dev/null 2>&1 || BUN=node_modules/@oven/bun-$bun_platform/bin/bun
export BUN
