# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# Test PKI made with the openssl CLI (OpenSSL 3.0 on Debian 12), EC P-256 for speed. `pki_make DIR` writes:
#   ca.crt/.key              "cvpn test CA" (the client CA and the server's issuer)
#   server.crt/.key          CN vpn.cvpn.test, KU digitalSignature,keyEncipherment, EKU serverAuth
#   alice, bob               good clients (EKU clientAuth)
#   mallory-otherca          clientAuth, but issued by a second CA ("cvpn other CA", other-ca.crt)
#   carol-expired            clientAuth, validity entirely in the past (2020)
#   dave-noclientauth        issued by the right CA, EKU serverAuth only
# Keys are mode 600. Nothing is cached outside DIR. Sets PKI=DIR for the helpers in netns.sh.

PKI_SERVER_CN=vpn.cvpn.test

# A CA: self-signed, basicConstraints CA:TRUE, keyCertSign.
pki_ca() { # DIR NAME CN
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 30 \
		-subj "/CN=$3" -keyout "$1/$2.key" -out "$1/$2.crt" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" 2>/dev/null
	chmod 600 "$1/$2.key"
}

# A leaf issued by CA with the given extendedKeyUsage, valid for 30 days from now.
pki_leaf() { # DIR CA NAME CN EKU
	local d=$1 ext
	ext="$d/$3.ext"
	cat >"$ext" <<-EOF
	basicConstraints=critical,CA:FALSE
	keyUsage=critical,digitalSignature,keyEncipherment
	extendedKeyUsage=$5
	subjectKeyIdentifier=hash
	authorityKeyIdentifier=keyid
	EOF
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -subj "/CN=$4" \
		-keyout "$d/$3.key" -out "$d/$3.csr" 2>/dev/null
	openssl x509 -req -in "$d/$3.csr" -CA "$d/$2.crt" -CAkey "$d/$2.key" -CAcreateserial -sha256 \
		-days 30 -extfile "$ext" -out "$d/$3.crt" 2>/dev/null
	chmod 600 "$d/$3.key"
	rm -f "$d/$3.csr" "$ext"
}

# A clientAuth leaf whose validity lies entirely in the past. `openssl x509 -req` on 3.0 cannot set
# notBefore, so this goes through `openssl ca` with explicit -startdate/-enddate and a throw-away database.
pki_expired() { # DIR CA NAME CN
	local d=$1 db="$1/ca-db"
	mkdir -p "$db"
	: >"$db/index.txt"
	echo 1000 >"$db/serial"
	cat >"$db/ca.cnf" <<-EOF
	[ ca ]
	default_ca = test_ca
	[ test_ca ]
	database = $db/index.txt
	serial = $db/serial
	new_certs_dir = $db
	certificate = $d/$2.crt
	private_key = $d/$2.key
	default_md = sha256
	policy = any
	unique_subject = no
	copy_extensions = none
	x509_extensions = leaf
	[ any ]
	commonName = supplied
	[ leaf ]
	basicConstraints = critical,CA:FALSE
	keyUsage = critical,digitalSignature,keyEncipherment
	extendedKeyUsage = clientAuth
	subjectKeyIdentifier = hash
	authorityKeyIdentifier = keyid
	EOF
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -subj "/CN=$4" \
		-keyout "$d/$3.key" -out "$d/$3.csr" 2>/dev/null
	openssl ca -batch -notext -config "$db/ca.cnf" -startdate 20200101000000Z -enddate 20200201000000Z \
		-in "$d/$3.csr" -out "$d/$3.crt" 2>/dev/null
	chmod 600 "$d/$3.key"
	rm -rf "$d/$3.csr" "$db"
}

pki_make() { # DIR
	local d=$1 n
	mkdir -p "$d"
	chmod 700 "$d"
	pki_ca "$d" ca "cvpn test CA"
	pki_ca "$d" other-ca "cvpn other CA"
	pki_leaf "$d" ca server "$PKI_SERVER_CN" serverAuth
	for n in alice bob; do
		pki_leaf "$d" ca "$n" "$n" clientAuth
	done
	pki_leaf "$d" other-ca mallory-otherca mallory-otherca clientAuth
	pki_expired "$d" ca carol-expired carol-expired
	pki_leaf "$d" ca dave-noclientauth dave-noclientauth serverAuth
	rm -f "$d"/*.srl
	# Each file must exist and be what it claims: a broken PKI must not make the refusal tests pass.
	for n in server alice bob dave-noclientauth carol-expired; do
		openssl verify -no_check_time -CAfile "$d/ca.crt" "$d/$n.crt" >/dev/null 2>&1 ||
			{ echo "pki: $n.crt does not chain to ca.crt" >&2; return 1; }
	done
	openssl verify -CAfile "$d/other-ca.crt" "$d/mallory-otherca.crt" >/dev/null 2>&1 ||
		{ echo "pki: mallory-otherca.crt does not chain to other-ca.crt" >&2; return 1; }
	if openssl x509 -checkend 0 -noout -in "$d/carol-expired.crt" >/dev/null 2>&1; then
		echo "pki: carol-expired.crt is not expired" >&2
		return 1
	fi
	# shellcheck disable=SC2034 # read by netns.sh and the tests
	PKI=$d
}
