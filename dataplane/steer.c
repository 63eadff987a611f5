// SPDX-License-Identifier: GPL-2.0-or-later
/* The steering programs of steer.h, written out as instructions: four and nine of them do not justify a
 * BPF toolchain in the build. */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cvpn/packet.h"
#include "cvpn/steer.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

int steer_udp_attach(int fd, unsigned n_workers)
{
	/* a reuseport program sees the UDP payload at offset 0; a load past its end ends the program with 0:
	 * the control socket */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),                   /* A = opcode << 3 | key id */
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 3),                  /* A = opcode */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, P_DATA_V2, 0, 5),    /* not P_DATA_V2: to control */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),                   /* A = first 4 bytes, host order */
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xffffff),           /* A = peer-id */
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n_workers),
		BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1),                  /* worker sockets start at 1 */
		BPF_STMT(BPF_RET | BPF_A, 0),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (n_workers == 0)
		return -EINVAL;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

int steer_tun_attach(int tun_fd, unsigned n_queues)
{
	/* the tun runs it on the packet it transmits, IP header first; LD_ABS loads in host order, and a
	 * packet too short for it ends the program with 0 (queue 0) */
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_6, .src_reg = BPF_REG_1 }, /* ctx for LD_ABS */
		{ .code = BPF_LD | BPF_W | BPF_ABS, .imm = 16 },                               /* IPv4 destination */
		{ .code = BPF_ALU | BPF_MOD | BPF_K, .dst_reg = BPF_REG_0, .imm = (int)n_queues },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr attr;
	int prog, err = 0;

	if (n_queues == 0)
		return -EINVAL;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (uint64_t)(unsigned long)insns;
	attr.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	attr.license = (uint64_t)(unsigned long)"GPL";
	prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (prog < 0)
		return -errno;
	if (ioctl(tun_fd, TUNSETSTEERINGEBPF, &prog) < 0)
		err = -errno;
	close(prog); /* the device holds its own reference */
	return err;
}
