# shellcheck shell=bash
# The gateway's development certificate, sourced by scripts/stack and run by the gateway
# tests (crates/testkit/src/gateway.rs):
#   ims_dev_cert DIR   makes in DIR, with openssl, a private CA (ca.pem, ca.key) and a
#                      certificate for the dev host signed by it (cert.pem, key.pem; subject
#                      alternative names localhost and 127.0.0.1). Kept while valid: a CA a
#                      developer added to a trust store keeps working across `scripts/stack up`.
# ECDSA P-256 keys: made in milliseconds (each gateway test makes its own CA), and what
# browsers and rustls prefer. Production uses a real certificate (IMS_GATEWAY_TLS_CERT).

ims_dev_cert() { # DIR
    local dir="$1" ext
    mkdir -p "$dir"
    # A CA valid for at least 30 more days is kept, and so is its certificate.
    if [[ -s "$dir/ca.pem" && -s "$dir/ca.key" ]] &&
        openssl x509 -checkend 2592000 -noout -in "$dir/ca.pem" >/dev/null 2>&1; then
        if [[ -s "$dir/cert.pem" && -s "$dir/key.pem" ]] &&
            openssl x509 -checkend 2592000 -noout -in "$dir/cert.pem" >/dev/null 2>&1 &&
            openssl verify -CAfile "$dir/ca.pem" "$dir/cert.pem" >/dev/null 2>&1; then
            return 0
        fi
    else
        (umask 077 && openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -days 3650 -subj "/CN=IMS development CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null) ||
            { echo "ims: error: openssl could not make the development CA in $dir" >&2 && return 1; }
    fi
    ext="$dir/cert.ext"
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" >"$ext"
    # 397 days: the longest validity browsers accept for a server certificate.
    (umask 077 && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=localhost" -keyout "$dir/key.pem" -out "$dir/cert.csr" 2>/dev/null &&
        openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
            -set_serial "0x$(openssl rand -hex 16)" -days 397 -extfile "$ext" \
            -out "$dir/cert.pem" 2>/dev/null) ||
        { echo "ims: error: openssl could not make the development certificate in $dir" >&2 && return 1; }
    rm -f "$dir/cert.csr" "$ext"
    # The CA certificate is public: clients are given it to trust.
    chmod 644 "$dir/ca.pem" "$dir/cert.pem"
}
