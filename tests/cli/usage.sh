# Usage errors are exit 2 with a pointer to --help; --help and --version work.
om-store --help | head -n 1
om-store --version
must_fail 2 om-store
must_fail 2 om-store frobnicate
must_fail 2 om-store --bogus model
must_fail 2 om-store model extra
om-store --help >/dev/full && exit 1 || true
must_fail 2 om-store model >/dev/full
