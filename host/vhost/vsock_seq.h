/*
 * vsock_seq.h -- SEQPACKET connections of the backend (virtio 1.2
 * §5.10.6.4; DESIGN §6): every vsock message is one record of an AF_UNIX
 * SOCK_SEQPACKET socket and back.
 *
 *   guest connects SEQPACKET to host port P  ->  connect(<uds-path>_P),
 *     which must be a SOCK_SEQPACKET listener (a SOCK_STREAM one, or none,
 *     gets the guest an RST and a log line naming why)
 *   host program: socket(AF_UNIX, SOCK_SEQPACKET), connect to
 *     "<uds-path>.seqpacket", first record "CONNECT <port>" (a trailing
 *     '\n' may be there); answer: one record "OK <local port>\n", or
 *     "ERROR <reason>\n" and the close, as on uds-path
 *
 * Then each record is one message both ways.  A guest message goes on
 * as one record once its last packet (EOM) arrived; a host record goes to
 * the guest as RW packets with EOM on the last, and EOR too: an AF_UNIX
 * record is a whole record (AF_UNIX keeps no MSG_EOR, so a guest's EOR
 * is not passed on; its message boundaries are).  Limits: CONN_SEQ_MSGS
 * guest messages waiting for the Unix socket (empty ones cost no credit:
 * more reset the connection), host records of at most the guest's
 * buf_alloc and SEQ_MAX_RECORD (bigger ones reset it, logged).  An empty
 * record is told from the end of the stream by its SCM_CREDENTIALS
 * (SO_PASSCRED).  With --forward-cid, SEQPACKET is refused (RST, logged):
 * Linux's non-blocking AF_VSOCK SEQPACKET send can send part of a message
 * and still report EAGAIN, which no retry can mend.
 *
 * Typical usage (vsock_conn.c and vsock_queue.c call these for
 * connections with conn->seqpacket):
 *	seq_socket_setup(fd, buf_alloc);           // SO_PASSCRED, SO_SNDBUF
 *	seq_from_guest(conn, iov, n, skip, len, flags, &why);  // < 0: reset(why)
 *	seq_flush(conn, &why);                     // EPOLLOUT; < 0: reset(why)
 *	seq_fill(conn, chain, room, limit, &len, &flags);  // next RW to the guest
 */
#ifndef HOST_VHOST_VSOCK_SEQ_H
#define HOST_VHOST_VSOCK_SEQ_H

#include <stdint.h>
#include <sys/uio.h>

#include "host/vhost/virtq.h"
#include "host/vhost/vsock_conn.h"

/* Socket options a SEQPACKET Unix socket of ours needs (best effort). */
void seq_socket_setup(int fd, uint32_t buf_alloc);
/* A guest RW packet (credit already checked and counted in rx_cnt);
 * 0, or negative errno and *why: the caller resets the connection. */
int seq_from_guest(struct vsock_conn *conn, const struct iovec *iov, unsigned n, size_t skip,
                   uint32_t len, uint32_t flags, const char **why);
/* Sends the whole messages buffered; negative errno and *why when the
 * socket broke or a record cannot be sent at all (the caller resets). */
int seq_flush(struct vsock_conn *conn, const char **why);
/* Whether whole messages wait for the Unix socket (EPOLLOUT wanted). */
int seq_flush_pending(const struct vsock_conn *conn);
/* The guest shut its sending side: a message cut short is dropped. */
void seq_guest_done(struct vsock_conn *conn);
/* Builds the payload of the next RW packet to the guest into chain after
 * the header: at most room bytes (limit: credit and packet bound).
 * 0 with *len and *flags (EOM|EOR on a record's last packet; an empty
 * record is an RW of length 0), or -EAGAIN (no record now), -ENODATA (end
 * of the stream), -EMSGSIZE (a record waits for a buffer with room),
 * -ENOSPC (it waits for credit), other negative errno (reset it). */
int seq_fill(struct vsock_conn *conn, struct vq_chain *chain, uint32_t room, uint32_t limit,
             uint32_t *len, uint32_t *flags);
/* Reads the CONNECT record of a host program: 1 with *port, 0 when none
 * has come yet, -EPROTO when it is not one CONNECT line (kept in
 * conn->line for the log), -ECONNRESET when the program left. */
int seq_read_connect(struct vsock_conn *conn, uint32_t *port);
/* Frees what SEQPACKET state holds (the connection is freed). */
void seq_free(struct vsock_conn *conn);

#endif
