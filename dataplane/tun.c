// SPDX-License-Identifier: GPL-2.0-or-later
/* The userspace data plane's TUN device: one queue for now (multi-queue is the line-rate issue's job). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cvpn/tun.h"

int tun_open(char ifname[IF_NAMESIZE])
{
	struct ifreq ifr;
	int fd, err;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
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
