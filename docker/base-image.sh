#!/bin/sh
# docker/base-image.sh: make sure the base image docker/Dockerfile names (debian:bookworm-slim)
# is in the local engine. In order: already there -> done; `docker pull` works -> done; else
# build it here with debootstrap --variant=minbase from the apt mirror this machine is
# configured with (read from /etc/apt/sources.list*, never a host written in this file),
# slimmed like the official image, and `docker import`ed under that tag.
# Needs root (debootstrap) and the debootstrap package (tools/deps.sh docker).
# Usage: sh docker/base-image.sh        BASE_IMAGE=... DOCKER=... to override
set -eu

BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
SUITE=${SUITE:-bookworm}
DOCKER=${DOCKER:-docker}
PULL_TIMEOUT_S=${PULL_TIMEOUT_S:-30}

if $DOCKER image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "base-image: $BASE_IMAGE present"
    exit 0
fi
if timeout "$PULL_TIMEOUT_S" $DOCKER pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "base-image: pulled $BASE_IMAGE"
    exit 0
fi

# The configured mirror: the first Debian archive URI serving $SUITE (deb822 .sources files
# first, then one-line sources.list entries). Security and third-party repositories are skipped.
mirror=$(
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # One stanza per paragraph: print its URIs when its Suites name $SUITE exactly.
        awk -v suite="$SUITE" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; ok = 0; enabled = 1
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); uris = $i }
                    if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
                    if ($i ~ /^Enabled:[ \t]*no/) enabled = 0
                }
                if (ok && enabled && uris != "") { split(uris, u, /[ \t]+/); print u[1] }
            }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { if ($(i + 1) == suite) print $i; break } }' "$f"
    done
)
mirror=$(printf '%s\n' "$mirror" | grep -v -- '-security' | head -n 1)
if [ -z "$mirror" ]; then
    echo "base-image: no apt source for '$SUITE' in /etc/apt/sources.list*; cannot build $BASE_IMAGE" >&2
    exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    echo "base-image: debootstrap is not installed (sh tools/deps.sh docker)" >&2
    exit 1
fi

root=$(mktemp -d /tmp/lmserve-base.XXXXXX)
trap 'rm -rf "$root"' EXIT INT TERM
echo "base-image: debootstrap --variant=minbase $SUITE from $mirror"
t0=$(date +%s)
debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$root.log" 2>&1 || {
    tail -n 20 "$root.log" >&2
    rm -f "$root.log"
    exit 1
}
rm -f "$root.log"

# Slim it like the official -slim images: no docs, man pages or translations now or later,
# no apt lists or caches, no logs.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$root/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
Acquire::Languages "none";
EOF
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$root/usr/share/man/"* "$root/usr/share/info/"* "$root/usr/share/locale/"* \
    "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/var/cache/apt/archives/"*.deb \
    "$root/var/cache/debconf/"*-old "$root/var/log/"* "$root/tmp/"* "$root/root/.bash_history" 2>/dev/null || true
# debootstrap leaves the host's resolv.conf and hostname; the engine provides both at run time.
: >"$root/etc/resolv.conf"
: >"$root/etc/hostname"

tar -C "$root" --numeric-owner -c . | $DOCKER import \
    --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$BASE_IMAGE" >/dev/null
size=$($DOCKER image inspect -f '{{.Size}}' "$BASE_IMAGE")
echo "base-image: built $BASE_IMAGE from $mirror in $(($(date +%s) - t0)) s, $((size / 1000000)) MB"
