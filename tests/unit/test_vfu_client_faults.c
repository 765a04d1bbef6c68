/* test_vfu_client: misbehaving servers (error replies, wrong ids and
 * commands, closing, half replies, huge sizes, silence, commands of their
 * own) and raw messages. */
#include "test_vfu_client.h"

/* ---- misbehaving servers ----------------------------------------------------------- */

void test_error_reply(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	atomic_store(&e->f.mode, FK_ERROR);
	assert_int_equal(vfu_get_device_info(e->c, &di), -EACCES);
	atomic_store(&e->f.mode, FK_ERROR_ZERO);
	assert_int_equal(vfu_get_device_info(e->c, &di), -EIO);
	atomic_store(&e->f.mode, FK_ERROR_PAYLOAD);
	assert_int_equal(vfu_get_device_info(e->c, &di), -EPROTO);
	/* still usable */
	assert_int_equal(vfu_get_device_info(e->c, &di), 0);
}

void test_wrong_id(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	atomic_store(&e->f.mode, FK_WRONG_ID);
	assert_int_equal(vfu_get_device_info(e->c, &di), -EPROTO);
	assert_int_equal(vfu_get_device_info(e->c, &di), -ENOTCONN);
}

void test_wrong_cmd(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	atomic_store(&e->f.mode, FK_WRONG_CMD);
	assert_int_equal(vfu_get_device_info(e->c, &di), -EPROTO);
	assert_int_equal(vfu_sync(e->c), -ENOTCONN);
}

void test_server_closes(void **state)
{
	struct env *e = *state;
	uint8_t b[4];
	atomic_store(&e->f.mode, FK_CLOSE);
	assert_int_equal(vfu_region_read(e->c, 0, 0, b, 4), -ECONNRESET);
	assert_int_equal(vfu_region_read(e->c, 0, 0, b, 4), -ENOTCONN);
}

void test_server_half_reply(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	atomic_store(&e->f.mode, FK_HALF_REPLY);
	assert_int_equal(vfu_get_device_info(e->c, &di), -ECONNRESET);
}

void test_huge_size(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	atomic_store(&e->f.mode, FK_HUGE_SIZE);
	assert_int_equal(vfu_get_device_info(e->c, &di), -EPROTO);
	assert_int_equal(vfu_sync(e->c), -ENOTCONN);
}

void test_timeout(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	struct timespec t0, t1;
	vfu_set_timeout(e->c, 200);
	atomic_store(&e->f.mode, FK_SILENT);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(vfu_get_device_info(e->c, &di), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 150 && ms < 2000);
	assert_int_equal(vfu_sync(e->c), -ENOTCONN);
}

void test_server_command(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	atomic_store(&e->f.mode, FK_DMA_FIRST);
	assert_int_equal(vfu_get_device_info(e->c, &di), 0);
	assert_int_equal(di.num_regions, 9);
	assert_int_equal(e->f.dma_reply_id, 0x7777);
	assert_int_equal(e->f.dma_reply_cmd, VFU_CMD_DMA_READ);
	assert_int_equal(e->f.dma_reply_flags, VFU_F_TYPE_REPLY | VFU_F_ERROR);
	assert_int_equal(e->f.dma_reply_error, ENOTSUP);
}

/* ---- raw ------------------------------------------------------------------------------ */

void test_raw(void **state)
{
	struct env *e = *state;
	struct {
		struct vfu_msg_hdr h;
		struct vfu_msg_device_info di;
	} __attribute__((packed)) m = {
		{ 0x4242, VFU_CMD_DEVICE_GET_INFO, sizeof(m), VFU_F_TYPE_COMMAND, 0 },
		{ 16, 0, 0, 0 },
	};
	uint8_t buf[64];
	size_t len;
	int fds[2], nfds = 2;
	/* nothing pending: a timeout that leaves the client usable */
	assert_int_equal(vfu_recv_raw(e->c, buf, sizeof(buf), &len, fds, &nfds, 50), -ETIMEDOUT);
	assert_int_equal(vfu_send_raw(e->c, &m, sizeof(m), NULL, 0), 0);
	assert_int_equal(vfu_recv_raw(e->c, buf, sizeof(buf), &len, fds, &nfds, 0), 0);
	assert_int_equal(len, 32);
	assert_int_equal(nfds, 0);
	struct vfu_msg_hdr h;
	memcpy(&h, buf, sizeof(h));
	assert_int_equal(h.msg_id, 0x4242);
	assert_int_equal(h.flags, VFU_F_TYPE_REPLY);
	/* truncated copy */
	m.h.msg_id = vfu_next_msg_id(e->c);
	assert_int_equal(vfu_send_raw(e->c, &m, sizeof(m), NULL, 0), 0);
	assert_int_equal(vfu_recv_raw(e->c, buf, 20, &len, NULL, NULL, 0), -EMSGSIZE);
	assert_int_equal(len, 32);
	/* the fd of a region info reply */
	struct {
		struct vfu_msg_hdr h;
		struct vfu_msg_region_info ri;
	} __attribute__((packed)) q = {
		{ 1, VFU_CMD_DEVICE_GET_REGION_INFO, sizeof(q), VFU_F_TYPE_COMMAND, 0 },
		{ .argsz = 512, .index = 0 },
	};
	uint8_t big[600];
	nfds = 2;
	assert_int_equal(vfu_send_raw(e->c, &q, sizeof(q), NULL, 0), 0);
	assert_int_equal(vfu_recv_raw(e->c, big, sizeof(big), &len, fds, &nfds, 0), 0);
	assert_int_equal(nfds, 1);
	close(fds[0]);
	assert_int_equal(vfu_sync(e->c), 0);
	/* server gone */
	atomic_store(&e->f.mode, FK_CLOSE);
	assert_int_equal(vfu_send_raw(e->c, &m, sizeof(m), NULL, 0), 0);
	assert_int_equal(vfu_recv_raw(e->c, buf, sizeof(buf), &len, NULL, NULL, 0), -ECONNRESET);
}
