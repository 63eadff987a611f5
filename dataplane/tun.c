// SPDX-License-Identifier: GPL-2.0-or-later
/* The userspace data plane's TUN device: one queue or several (one per data worker), with the vnet header and
 * offloads when the kernel has them. */
#include <errno.h>
#include <stdbool.h>
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
	int fd;

	return tun_open_queues(ifname, offload, &fd, 1) < 0 ? -errno : fd;
}

/* One more queue of the device the first open created: the same flags, and each queue its own vnet header
 * size (it is per queue; the offload flags are the device's). */
static int open_queue(char ifname[IF_NAMESIZE], short flags, bool vnet)
{
	int fd = open_dev(ifname, flags), hdr = OFFLOAD_VNET_HDR_LEN;

	if (fd >= 0 && vnet && ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int tun_open_queues(char ifname[IF_NAMESIZE], bool *offload, int *fds, unsigned n)
{
	short flags = IFF_TUN | IFF_NO_PI | (n > 1 ? IFF_MULTI_QUEUE : 0);
	char want[IF_NAMESIZE];
	bool vnet = offload && *offload;
	int fd = -1;

	if (n == 0 || n > TUN_MAX_QUEUES) {
		errno = EINVAL;
		return -1;
	}
	memcpy(want, ifname, IF_NAMESIZE);
	if (vnet) {
		fd = open_dev(ifname, flags | IFF_VNET_HDR);
		if (fd >= 0 && enable_offload(fd) < 0) {
			/* closing the only fd removes a device we created: try again without */
			close(fd);
			fd = -1;
		}
		if (fd < 0) {
			memcpy(ifname, want, IF_NAMESIZE);
			vnet = false;
			*offload = false;
		}
	}
	if (fd < 0)
		fd = open_dev(ifname, flags);
	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	fds[0] = fd;
	for (unsigned i = 1; i < n; i++) {
		fds[i] = open_queue(ifname, (short)(flags | (vnet ? IFF_VNET_HDR : 0)), vnet);
		if (fds[i] < 0) {
			int err = -fds[i];

			fds[i] = -1;
			while (i-- > 0) {
				close(fds[i]);
				fds[i] = -1;
			}
			errno = err;
			return -1;
		}
	}
	return 0;
}
