# Octopus's export crypto against independent implementations, with a new
# random password, plaintext and IVs at every run: the key from python3's
# hashlib.pbkdf2_hmac (and openssl kdf, which must agree), the canary and a
# sensitive value encrypted by `openssl enc -aes-128-cbc`, in a small
# Export/Import package this test writes (no project code makes it); then
# om-octopus must open the canary and give back the plaintext.
pw=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
plain="$(head -c 9 /dev/urandom | base64) é\t\"x\""
printf '%s\n' "$pw" >pw
key=$(python3 -c "import hashlib, sys
print(hashlib.pbkdf2_hmac('sha1', sys.argv[1].encode(), b'Octopuss', 1000, 16).hex())" "$pw")
key2=$(openssl kdf -keylen 16 -kdfopt digest:SHA1 -kdfopt "pass:$pw" -kdfopt salt:Octopuss \
	-kdfopt iter:1000 PBKDF2 | tr -d ':\n' | tr 'A-F' 'a-f')
test "$key" = "$key2"

# enc TEXT: Octopus's form of TEXT, base64(ciphertext)|base64(IV).
enc() {
	iv=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	c=$(printf '%s' "$1" | openssl enc -aes-128-cbc -K "$key" -iv "$iv" | base64 -w0)
	printf '%s|%s' "$c" "$(python3 -c "import base64, sys
print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())" "$iv")"
}
hello=$(enc Cephalopod)
secret=$(enc "$plain")

mkdir pkg
python3 - "$hello" "$secret" <<'END'
import hashlib, json, sys
hello, secret = sys.argv[1:3]
S = '-D4C63A85E7894C5D8C20D9297FEA1A43'
docs = [
    ('LibraryVariableSets-7' + S, 'LibraryVariableSet', {
        'Id': 'LibraryVariableSets-7' + S, 'Name': 'Keys', 'SpaceId': 'Spaces-1' + S,
        'VariableSetId': 'variableset-LibraryVariableSets-7' + S, 'ContentType': 'Variables',
        'Templates': []}),
    ('variableset-LibraryVariableSets-7' + S, 'LibraryVariables', {
        'Id': 'variableset-LibraryVariableSets-7' + S, 'OwnerId': 'LibraryVariableSets-7' + S,
        'SpaceId': 'Spaces-1' + S, 'Variables': [
            {'Id': '0b0c1f4e-2c55-4b1e-9d3e-1a2b3c4d5e6f', 'Name': 'Key', 'Type': 'Sensitive',
             'Value': secret}]}),
]
entries = []
for i, d, body in docs:
    text = json.dumps(body, indent=2)
    open('pkg/%s.json' % i, 'w').write(text)
    entries.append({'Id': i, 'Name': body['Id'], 'DocumentType': d, 'ExportType': 'FullDocument',
                    'DocumentSource': i + '.json', 'ParentId': None,
                    'Hash': hashlib.sha1(text.encode()).hexdigest()})
json.dump({'SchemaVersions': [], 'Entries': entries, 'Hello': hello},
          open('pkg/manifest.json', 'w'), indent=2)
open('pkg/version', 'w').write('2.0.0')
open('pkg/server-version', 'w').write('2024.4.4121')
END
om-octopus --password-file pw pkg | cat >b.tar
mkdir B
tar -xf b.tar -C B
tok=$(sed -n 's/.*"Value": "om-clear-1:\(.*\)".*/\1/p' B/spaces/Default/library-variable-sets/Keys/variables.json)
test "$(printf '%s' "$tok" | base64 -d)" = "$(printf '%s' "$plain")"
echo "the plaintext comes back"
# Another password: the canary does not open.
echo "x$pw" >pw2
must_fail 1 om-octopus --password-file pw2 --redact-secrets -o out pkg 2>/dev/null
must_fail 1 test -e out
echo "another password is refused"
