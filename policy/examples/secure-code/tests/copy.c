#include <string.h>
#include <stdio.h>

void f(char *dst, const char *src, size_t n)
{
	// ruleid: c-no-strcpy
	strcpy(dst, src);
	// ok: c-no-strcpy
	strlcpy(dst, src, n);
	// ok: c-no-strcpy
	my_strcpy(dst, src);
	char line[64];
	// ruleid: c-no-gets
	gets(line);
	// ok: c-no-gets
	fgets(line, sizeof line, stdin);
}
