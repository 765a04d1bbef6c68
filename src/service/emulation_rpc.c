/* Emulation (device plane) RPCs: emulation_function_list,
 * emulation_resource_list. */
#include "service.h"
#include "emu/emu.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"


struct list_params {
	bool all;
};

static const struct rpc_param list_decoders[] = {
	RPC_OPT("all", RPC_T_BOOL, struct list_params, all),
};

static json_t *fn_json(struct emu_function *fn)
{
	json_t *o = json_object();
	json_object_set_new(o, "hotplugged", json_boolean(emu_fn_hotplugged(fn)));
	if (emu_fn_hotplugged(fn))
		emulation_hotplug_json(o, fn);
	json_object_set_new(o, "emulation_type",
			    json_string(emu_fn_type(fn) == EMU_TYPE_NVME ? "NVME" : "VBLK"));
	json_object_set_new(o, "pf_index", json_integer(emu_fn_pf_index(fn)));
	if (emu_fn_is_vf(fn))
		json_object_set_new(o, "vf_index", json_integer(emu_fn_vf_index(fn)));
	json_object_set_new(o, "pci_bdf", json_string(emu_fn_bdf(fn)));
	json_object_set_new(o, "vhca_id", json_integer(emu_fn_vhca_id(fn)));
	json_object_set_new(o, "vuid", json_string(emu_fn_vuid(fn)));
	/* osnap's own: where the function is served (vfio-user or vhost-user) */
	json_object_set_new(o, "socket", json_string(emu_fn_socket_path(fn)));
	if (emu_fn_ctrl_id(fn))
		json_object_set_new(o, "ctrl_id", json_string(emu_fn_ctrl_id(fn)));
	return o;
}

json_t *emulation_fn_entry(struct emu_function *fn)
{
	json_t *o = fn_json(fn);
	json_object_set_new(o, "num_vfs", json_integer(0));
	json_object_set_new(o, "vfs", json_array());
	return o;
}

static void rpc_emulation_function_list(struct rpc_request *req, json_t *params)
{
	struct list_params p = { 0 };
	RPC_DECODE_OR_RETURN(req, params, list_decoders, p);
	json_t *arr = json_array();
	for (struct emu_function *pf = emu_pf_first(); pf; pf = emu_pf_next(pf)) {
		json_t *o = fn_json(pf);
		json_t *vfs = json_array();
		int active = 0;
		for (int i = 0; i < emu_fn_num_vfs(pf); i++) {
			struct emu_function *vf = emu_fn_vf(pf, i);
			active += emu_fn_active(vf);
			if (p.all || emu_fn_active(vf))
				json_array_append_new(vfs, fn_json(vf));
		}
		json_object_set_new(o, "num_vfs", json_integer(active));
		json_object_set_new(o, "vfs", vfs);
		json_array_append_new(arr, o);
	}
	rpc_send_result(req, arr);
}

static void rpc_emulation_resource_list(struct rpc_request *req, json_t *params)
{
	char err[256];
	if (rpc_decode(params, NULL, 0, NULL, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	rpc_send_result(req, json_pack("[{s:I, s:I}]",
		"num_available_msix_resources", (json_int_t)emu_msix_available(),
		"num_available_queue_resources", (json_int_t)emu_queues_available()));
}

static const struct rpc_method emulation_methods[] = {
	{ "emulation_function_list", rpc_emulation_function_list, RPC_RUNTIME },
	{ "emulation_resource_list", rpc_emulation_resource_list, RPC_RUNTIME },
};

void emulation_rpc_register(void)
{
	rpc_register_table(RPC_PARAMS(emulation_methods));
}
