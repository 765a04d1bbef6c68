/*
 * nvme-feat: Get / Set Features on an NVMe controller from the guest, through the
 * kernel's admin passthrough (NVME_IOCTL_ADMIN_CMD on /dev/nvmeN). The guest's
 * busybox has no nvme-cli; build_guest.sh links this statically into the initramfs.
 *
 *   nvme-feat DEV get FID          prints the completion's DW0 (hex), e.g. 0x00000a07
 *   nvme-feat DEV set FID VALUE    Set Features FID with CDW11 = VALUE, prints DW0
 *
 * FID 0x08 is Interrupt Coalescing: CDW11 bits 7:0 aggregation threshold (0's based),
 * bits 15:8 aggregation time (100 us units). Exit status 0 on success, 1 on an
 * ioctl error, 2 on an NVMe status (printed).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/nvme_ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: nvme-feat DEV get FID | nvme-feat DEV set FID VALUE\n");
	return 1;
}

int main(int argc, char **argv)
{
	struct nvme_admin_cmd cmd;
	int fd, rc;

	if (argc < 4)
		return usage();
	memset(&cmd, 0, sizeof(cmd));
	if (!strcmp(argv[2], "get") && argc == 4) {
		cmd.opcode = 0x0a;		/* Get Features, SEL 0: current */
	} else if (!strcmp(argv[2], "set") && argc == 5) {
		cmd.opcode = 0x09;		/* Set Features */
		cmd.cdw11 = (unsigned int)strtoul(argv[4], NULL, 0);
	} else {
		return usage();
	}
	cmd.cdw10 = (unsigned int)strtoul(argv[3], NULL, 0) & 0xff;
	cmd.timeout_ms = 10000;
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "nvme-feat: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	rc = ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd);
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "nvme-feat: ioctl: %s\n", strerror(errno));
		return 1;
	}
	if (rc > 0) {
		fprintf(stderr, "nvme-feat: NVMe status 0x%x\n", rc);
		return 2;
	}
	printf("0x%08x\n", cmd.result);
	return 0;
}
