/* vfu_conformance: the handshake and message framing: VERSION, its capabilities,
 * messages before it or of a size out of bounds (own connections), a second
 * VERSION. */
#include <jansson.h>

#include "vfu_conformance.h"

/* ---- cases: handshake and framing (own connections) ------------------------- */

static const char our_caps[] =
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
	"\"pgsizes\":4096,\"max_dma_maps\":65535,\"write_multiple\":true}}";

/* VERSION by hand, to see the server's capabilities as sent. */
void t_version_caps(void)
{
	struct vfu_client *c = NULL;
	json_t *root = NULL;
	uint8_t payload[sizeof(struct vfu_msg_version) + sizeof(our_caps)];
	struct vfu_msg_version v = { .major = 0, .minor = 0 };
	struct raw_reply r;

	memcpy(payload, &v, sizeof(v));
	memcpy(payload + sizeof(v), our_caps, sizeof(our_caps));
	REQUIRE_RC(vfu_connect_raw(opt.sock, &c));
	uint16_t id = vfu_next_msg_id(c);
	REQUIRE_RC(raw_cmd(c, id, VFU_CMD_VERSION, VFU_F_TYPE_COMMAND, payload, sizeof(payload), NULL, 0));
	REQUIRE_RC(raw_recv(c, &r, 3000));
	REQUIRE_MSG(r.h.msg_id == id && r.h.command == VFU_CMD_VERSION &&
	            (r.h.flags & VFU_F_TYPE_MASK) == VFU_F_TYPE_REPLY && !(r.h.flags & VFU_F_ERROR),
	            "reply id %u command %u flags 0x%x error %u", r.h.msg_id, r.h.command, r.h.flags,
	            r.h.error);
	REQUIRE_MSG(r.len >= sizeof(r.h) + sizeof(v) && r.len <= sizeof(r.h) + sizeof(r.data),
	            "VERSION reply of %zu bytes", r.len);
	memcpy(&v, r.data, sizeof(v));
	REQUIRE_MSG(v.major == 0 && v.minor == 0, "server answered %u.%u to our 0.0", v.major, v.minor);
	size_t jlen = r.len - sizeof(r.h) - sizeof(v);
	if (jlen) {
		const char *text = (const char *)r.data + sizeof(v);
		REQUIRE_MSG(memchr(text, '\0', jlen) == text + jlen - 1,
		            "version data is not one NUL-terminated string");
		json_error_t jerr;
		root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
		REQUIRE_MSG(root && json_is_object(root), "version data is not a JSON object: %s", text);
		json_t *caps = json_object_get(root, "capabilities");
		REQUIRE_MSG(!caps || json_is_object(caps), "capabilities is not an object: %s", text);
		const char *key;
		json_t *val;
		json_object_foreach(caps, key, val) {
			/* a subset of what we proposed: no twin_socket, no migration */
			REQUIRE_MSG(!strcmp(key, "max_msg_fds") || !strcmp(key, "max_data_xfer_size") ||
			            !strcmp(key, "pgsizes") || !strcmp(key, "max_dma_maps") ||
			            !strcmp(key, "write_multiple"),
			            "capability %s was not proposed: %s", key, text);
		}
		json_t *fds = json_object_get(caps, "max_msg_fds");
		json_t *xfer = json_object_get(caps, "max_data_xfer_size");
		json_t *pg = json_object_get(caps, "pgsizes");
		json_t *maps = json_object_get(caps, "max_dma_maps");
		json_t *wm = json_object_get(caps, "write_multiple");
		REQUIRE_MSG(!fds || (json_is_integer(fds) && json_integer_value(fds) >= 1),
		            "max_msg_fds must allow the fd of DMA_MAP: %s", text);
		REQUIRE_MSG(!xfer || (json_is_integer(xfer) && json_integer_value(xfer) >= 1),
			    "max_data_xfer_size: %s", text);
		REQUIRE_MSG(!pg || (json_is_integer(pg) && (json_integer_value(pg) & 4096)),
		            "pgsizes must include the 4 KiB we proposed: %s", text);
		REQUIRE_MSG(!maps || (json_is_integer(maps) && json_integer_value(maps) >= 1), "max_dma_maps: %s",
		            text);
		REQUIRE_MSG(!wm || json_is_boolean(wm), "write_multiple: %s", text);
	}
	/* this connection is negotiated now */
	REQUIRE_RC(vfu_sync(c));
out:
	json_decref(root);
	vfu_close(c);
}

void t_version_not_first(void)
{
	struct vfu_client *c = NULL;
	struct vfu_msg_device_info req = { .argsz = sizeof(req) };
	struct raw_reply r;

	REQUIRE_RC(vfu_connect_raw(opt.sock, &c));
	uint16_t id = vfu_next_msg_id(c);
	REQUIRE_RC(raw_cmd(c, id, VFU_CMD_DEVICE_GET_INFO, VFU_F_TYPE_COMMAND, &req, sizeof(req), NULL, 0));
	/* the header is all we look at; receiving only it also keeps clear of
	 * vfu_recv_raw()'s memcpy from a client buffer that no payload has
	 * allocated yet (NULL source with length 0, flagged by UBSan) */
	int rc = raw_recv_cap(c, &r, sizeof(struct vfu_msg_hdr), 3000);
	if (rc == -ECONNRESET) {
		/* closed without an answer: allowed */
		goto out;
	}
	REQUIRE_RC(rc);
	REQUIRE_MSG(r.h.msg_id == id && r.h.command == VFU_CMD_DEVICE_GET_INFO &&
	            (r.h.flags & VFU_F_TYPE_MASK) == VFU_F_TYPE_REPLY,
	            "reply id %u command %u flags 0x%x", r.h.msg_id, r.h.command, r.h.flags);
	REQUIRE_MSG((r.h.flags & VFU_F_ERROR) && r.h.error, "DEVICE_GET_INFO before VERSION was answered");
out:
	vfu_close(c);
}

static int bad_size(uint32_t size, const char *what)
{
	int ret = -1;
	struct vfu_client *c = NULL;

	REQUIRE_RC(vfu_connect_raw(opt.sock, &c));
	REQUIRE_RC(vfu_negotiate(c));
	/* a header announcing size bytes, and nothing else */
	REQUIRE_RC(raw_send(c, vfu_next_msg_id(c), VFU_CMD_DEVICE_GET_INFO, VFU_F_TYPE_COMMAND, size, NULL, 0,
		            NULL, 0));
	REQUIRE_MSG(expect_close(c, 3000, what) == 0, "msg_size %u not refused by closing", size);
	ret = 0;
out:
	vfu_close(c);
	return ret;
}

void t_msg_size_small(void)
{
	bad_size(8, "msg_size 8");
}

void t_msg_size_huge(void)
{
	bad_size((16u << 20) + 16, "msg_size 16 MiB + 16");
}

/* ---- cases on the main connection ------------------------------------------ */

void t_version_negotiated(void)
{
	const struct vfu_caps *caps = vfu_get_caps(C);
	REQUIRE_MSG(caps->major == 0 && caps->minor == 0, "negotiated %u.%u", caps->major, caps->minor);
	REQUIRE_MSG(caps->max_msg_fds >= 1, "max_msg_fds %u", caps->max_msg_fds);
	REQUIRE_MSG(caps->pgsizes & 4096, "pgsizes 0x%llx", (unsigned long long)caps->pgsizes);
out:;
}

void t_version_second(void)
{
	uint8_t payload[sizeof(struct vfu_msg_version) + sizeof(our_caps)];
	struct vfu_msg_version v = { 0, 0 };
	memcpy(payload, &v, sizeof(v));
	memcpy(payload + sizeof(v), our_caps, sizeof(our_caps));
	REQUIRE_MSG(expect_error(C, VFU_CMD_VERSION, payload, sizeof(payload), NULL, 0, "second VERSION") == 0,
	            "a second VERSION must be refused");
	REQUIRE_RC(vfu_sync(C));
out:;
}
