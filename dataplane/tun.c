// SPDX-License-Identifier: GPL-2.0-or-later
/* The userspace data plane's TUN device: one queue, with the vnet header and offloads when the kernel has them. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cvpn/offload.h"
#include "cvpn/tun.h"

static int open_dev(char ifname[IF_NAMESIZE], short flags)
{
	struct ifreq ifr;
	int fd, err;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = flags;
	strncpy(ifr.ifr_name, ifname, IF_NAMESIZE - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	memcpy(ifname, ifr.ifr_name, IF_NAMESIZE);
	ifname[IF_NAMESIZE - 1] = '\0';
	return fd;
}

/* The vnet header and what the kernel may hand us: checksums left to us, TCP (and, from 6.2, UDP)
 * segmentation offload. Without the offload flags the header would only cost bytes. */
static int enable_offload(int fd)
{
	int hdr = OFFLOAD_VNET_HDR_LEN;
	unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
		return -errno;
#if defined(TUN_F_USO4) && defined(TUN_F_USO6)
	if (ioctl(fd, TUNSETOFFLOAD, base | TUN_F_USO4 | TUN_F_USO6) == 0)
		return 0;
#endif
	if (ioctl(fd, TUNSETOFFLOAD, base) < 0)
		return -errno;
	return 0;
}

int tun_open(char ifname[IF_NAMESIZE], bool *offload)
{
	char want[IF_NAMESIZE];
	int fd;

	memcpy(want, ifname, IF_NAMESIZE);
	if (offload && *offload) {
		fd = open_dev(ifname, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR);
		if (fd >= 0 && enable_offload(fd) == 0)
			return fd;
		/* closing the only fd removes a device we created: try again without */
		if (fd >= 0)
			close(fd);
		memcpy(ifname, want, IF_NAMESIZE);
		*offload = false;
	}
	return open_dev(ifname, IFF_TUN | IFF_NO_PI);
}
