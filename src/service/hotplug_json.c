/* The hot-plug members of a hot-plugged PF in emulation_function_list. */
#include "service.h"
#include "emu/emu_hotplug.h"

void emulation_hotplug_json(json_t *o, struct emu_function *fn)
{
	const char *st = emu_hp_state_name(emu_fn_hotplug_state(fn));
	const struct emu_hotplug_spec *s = emu_fn_hotplug_spec(fn);
	/* the seed's example spells it "hotplug state"; its text names
	 * pci_hotplug_state: both */
	json_object_set_new(o, "hotplug state", json_string(st));
	json_object_set_new(o, "pci_hotplug_state", json_string(st));
	/* osnap's own: the switch port, the VMM's QMP socket, the attach's queues */
	json_object_set_new(o, "port", json_integer(emu_fn_hotplug_port(fn)));
	if (emu_fn_hotplug_qmp(fn)[0])
		json_object_set_new(o, "qmp", json_string(emu_fn_hotplug_qmp(fn)));
	if (s->num_queues)
		json_object_set_new(o, "num_queues", json_integer(s->num_queues));
	if (s->queue_depth)
		json_object_set_new(o, "queue_depth", json_integer(s->queue_depth));
}
