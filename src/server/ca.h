/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's certificate authority (OpenSSL): a P-256 root created on first
 * start in STATE/ca.{key,pem}, a server certificate (serverAuth) re-issued at
 * every start for the configured host names, and device certificates
 * (clientAuth, CN = device id) issued from device-generated CSRs.
 */
#ifndef POCKETVM_SERVER_CA_H
#define POCKETVM_SERVER_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"

#define CA_SERIAL_HEX 40

struct ca {
	EVP_PKEY *key;
	X509 *cert;
	char *cert_pem;
	char sha256[65]; /* hex SHA-256 of the CA certificate's DER */
	EVP_PKEY *server_key;
	X509 *server_cert;
};

/* Loads or creates the CA in dir and issues a fresh server certificate for hosts. */
int __must_check ca_open(struct ca *ca, const char *dir, const char *const *hosts, int nhosts,
			 const char *server_id);
void ca_close(struct ca *ca);

/*
 * Verifies a PEM CSR (signature, key type: EC P-256/384/521 or RSA >= 2048)
 * and issues a device certificate with CN = device_id. On success *pem is
 * the certificate (caller frees) and serial the lowercase hex serial.
 * Returns 0, -EINVAL for an unacceptable CSR, or -EIO.
 */
int __must_check ca_issue_device(struct ca *ca, const char *csr_pem, size_t len,
				 const char *device_id, char **pem, char serial[CA_SERIAL_HEX + 1]);

/* Lowercase hex serial of cert into out. */
void ca_serial_hex(const X509 *cert, char out[CA_SERIAL_HEX + 1]);

/* The subject CN of cert into out (size n); false when absent or too long. */
bool ca_subject_cn(const X509 *cert, char *out, size_t n);

#endif
