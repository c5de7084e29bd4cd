# Usage errors are exit 2 with a pointer to --help; --help and --version work.
om-store --help | head -n 1
om-store --version
must_fail 2 om-store
must_fail 2 om-store frobnicate
must_fail 2 om-store --bogus model
must_fail 2 om-store model extra
om-store --help >/dev/full && exit 1 || true
must_fail 2 om-store model >/dev/full
# om-octopus: one INPUT, never a password on the command line.
om-octopus --help | head -n 1
om-octopus --version
must_fail 2 om-octopus
must_fail 2 om-octopus a b
must_fail 2 om-octopus --bogus a
must_fail 2 om-octopus --password-file a --password-fd 3 x
must_fail 2 om-octopus --password-fd x a
must_fail 2 om-octopus --space '' a
must_fail 2 om-octopus --help >/dev/full
