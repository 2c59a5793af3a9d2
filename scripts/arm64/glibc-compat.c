// Linked into the arm64 cross build of panicd only (scripts/arm64/build.sh), never into the amd64 build.
// Debian sid's prebuilt static Swift runtime (libswiftCore.a, libdispatch.a, libCoreFoundation.a, ICU) was
// compiled against glibc 2.42, whose headers send strtol/sscanf to their C23 variants (__isoc23_*, glibc 2.38)
// and which has strlcpy/strlcat (2.38). Debian 12's glibc 2.36 has none of them, so the binary would not load
// there. These definitions satisfy the references inside the binary; they call the C99 functions, which differ
// from the C23 ones only in accepting "0b" binary prefixes and %b, which the runtime does not use.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL __attribute__((visibility("hidden")))

LOCAL long __isoc23_strtol(const char *s, char **end, int base) { return strtol(s, end, base); }
LOCAL long long __isoc23_strtoll(const char *s, char **end, int base) { return strtoll(s, end, base); }
LOCAL unsigned long __isoc23_strtoul(const char *s, char **end, int base) { return strtoul(s, end, base); }
LOCAL unsigned long long __isoc23_strtoull(const char *s, char **end, int base) { return strtoull(s, end, base); }

LOCAL int __isoc23_sscanf(const char *s, const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    int result = vsscanf(s, format, arguments);
    va_end(arguments);
    return result;
}

LOCAL size_t strlcpy(char *destination, const char *source, size_t size) {
    size_t length = strlen(source);
    if (size > 0) {
        size_t copied = length < size - 1 ? length : size - 1;
        memcpy(destination, source, copied);
        destination[copied] = '\0';
    }
    return length;
}

LOCAL size_t strlcat(char *destination, const char *source, size_t size) {
    size_t used = strnlen(destination, size);
    if (used == size) return size + strlen(source);
    return used + strlcpy(destination + used, source, size - used);
}
