// libpq (libpq-dev), the PostgreSQL client library. It uses the system OpenSSL for TLS to
// the database, the same library the chat's own TLS uses.
#ifndef C_POSTGRESQL_SHIM_H
#define C_POSTGRESQL_SHIM_H
#include <libpq-fe.h>
#endif
