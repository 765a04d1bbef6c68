/* Base64 (RFC 4648, with padding) for binary data in JSON. */
#ifndef OSNAP_BASE64_H
#define OSNAP_BASE64_H
#include <stddef.h>
#include <stdint.h>
/* Encoded length including the NUL. */
size_t base64_encoded_size(size_t n);
void base64_encode(const uint8_t *in, size_t n, char *out);
/* Decode into out (capacity cap). Returns the byte count or -EINVAL. */
long base64_decode(const char *in, uint8_t *out, size_t cap);
#endif
