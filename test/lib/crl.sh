# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# Certificate revocation lists for the test CA of pki.sh, made with `openssl ca` and a database in $TMPD:
#   crl_setup                 the database (after pki_make)
#   crl_revoke NAME           revokes $PKI/NAME.crt
#   crl_fill N                adds N more revoked serials (not certificates anyone holds), for size tests
#   crl_gen OUT [LAST NEXT]   writes the CRL as PEM; LAST/NEXT (YYMMDDHHMMSSZ) set lastUpdate/nextUpdate,
#                             e.g. a CRL that expired yesterday; default: valid for a day

CRL_DB="$TMPD/crl-db"

crl_setup() {
	mkdir -p "$CRL_DB"
	: >"$CRL_DB/index.txt"
	echo 1000 >"$CRL_DB/crlnumber"
	cat >"$CRL_DB/ca.cnf" <<-EOF
	[ ca ]
	default_ca = test_ca
	[ test_ca ]
	database = $CRL_DB/index.txt
	crlnumber = $CRL_DB/crlnumber
	certificate = $PKI/ca.crt
	private_key = $PKI/ca.key
	default_md = sha256
	default_crl_days = 1
	unique_subject = no
	EOF
}

crl_revoke() { # NAME
	openssl ca -config "$CRL_DB/ca.cnf" -revoke "$PKI/$1.crt" >"$CRL_DB/revoke.log" 2>&1 ||
		fail "crl: cannot revoke $1: $(tail -n 3 "$CRL_DB/revoke.log")"
}

crl_fill() { # N
	local i
	# index.txt: status, expiry, revocation date, serial (hex), file, subject
	for ((i = 1; i <= $1; i++)); do
		printf 'R\t301231235959Z\t240101000000Z\t%08X%08X\tunknown\t/CN=filler-%d\n' "$i" "$RANDOM" "$i"
	done >>"$CRL_DB/index.txt"
}

crl_gen() { # OUT [LASTUPDATE NEXTUPDATE]
	local args=()
	[ $# -ge 3 ] && args=(-crl_lastupdate "$2" -crl_nextupdate "$3")
	openssl ca -config "$CRL_DB/ca.cnf" -gencrl "${args[@]}" -out "$1" >"$CRL_DB/gencrl.log" 2>&1 ||
		fail "crl: cannot generate: $(tail -n 3 "$CRL_DB/gencrl.log")"
}
