/*
 * compat.h -- helpers shared by the units of compat_api.
 */
#ifndef TEST_COMPAT_H_
#define TEST_COMPAT_H_

/** Send an xheader through req->xheader.user[i] (char user[0]) over a
 * loop connection and check it arrives; 1 when it did. */
int compat_nouser_roundtrip(pscom_connection_t *loop);

#endif /* TEST_COMPAT_H_ */
