#!/bin/sh
# embed.sh NAME < FILE > FILE.c: the bytes of FILE as a C string named NAME.
# Each line becomes one string literal; backslashes and quotes are escaped.
name=$1
printf 'const char %s[] =\n' "$name"
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/'
printf '\t"";\n'
