// GDBM (libgdbm-dev). Debian 12 ships no gdbm.pc, hence `link "gdbm"` in the module map.
#ifndef C_GDBM_SHIM_H
#define C_GDBM_SHIM_H
#include <gdbm.h>
#endif
