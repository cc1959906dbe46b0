// libomemo-c 0.5 (libomemo-c-dev): the Signal protocol (X3DH, Double Ratchet) for the
// end-to-end encryption in EndToEnd. Its headers live in /usr/include/omemo and include
// each other by bare name, so pkg-config's -I/usr/include/omemo is needed as well.
#ifndef C_OMEMO_SHIM_H
#define C_OMEMO_SHIM_H
#include <omemo/signal_protocol.h>
#include <omemo/key_helper.h>
#include <omemo/session_builder.h>
#include <omemo/session_cipher.h>
#include <omemo/session_pre_key.h>
#include <omemo/session_record.h>
#include <omemo/protocol.h>
#include <omemo/curve.h>
#include <omemo/ratchet.h>
#endif
