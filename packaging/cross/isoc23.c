/*
 * go-fitz's bundled arm64 MuPDF (libmupdfthird_linux_arm64.a, HarfBuzz's
 * number parser) was compiled against glibc 2.38, where C23 mode renames
 * strtol and strtoul to __isoc23_strtol and __isoc23_strtoul. Debian 12's
 * glibc (2.36, the board's) has only the classic names. The C23 variants
 * differ only in also accepting a "0b" prefix for base 0 and 2; HarfBuzz
 * parses decimal numbers, so the classic functions serve.
 *
 * The Makefile compiles this file and hands the object to the linker of
 * every arm64 build and test (CGO_LDFLAGS, so once per cgo package: hence
 * weak). amd64 needs nothing of it.
 */
#include <stdlib.h>

__attribute__((weak)) long __isoc23_strtol(const char *nptr, char **endptr, int base)
{
	return strtol(nptr, endptr, base);
}

__attribute__((weak)) unsigned long __isoc23_strtoul(const char *nptr, char **endptr, int base)
{
	return strtoul(nptr, endptr, base);
}
