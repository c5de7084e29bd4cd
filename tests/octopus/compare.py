#!/usr/bin/python3
# compare.py PACKAGE CONVERTED TARGET PLAIN: the documents of an Octopus
# Export/Import package against the same documents exported from an om
# store they were imported into, member by member, up to Id remapping.
# CONVERTED (om-octopus's bundle, extracted) and TARGET (om-export of the
# target, extracted) hold documents at the same name-based paths, which
# pairs their Ids.  PLAIN maps each ciphertext of the package to its
# plaintext (its README).  Members that om leaves out of exports as
# volatile may be missing from TARGET; nothing else may differ.
import base64, json, os, sys

pkg, conv, tgt, plainf = sys.argv[1:5]
SUFFIX = '-D4C63A85E7894C5D8C20D9297FEA1A43'
VOLATILE = {'LastModified', 'DataVersion', 'Version'}
plain = dict(l.split(' ', 1) for l in open(plainf).read().splitlines())


def tree(d):
    docs = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            rel = os.path.relpath(p, d)
            if f.endswith('.json') and rel != 'manifest.json':
                docs[rel] = json.load(open(p))
    return docs


C, T = tree(conv), tree(tgt)
if sorted(C) != sorted(T):
    sys.exit('paths differ: %s' % sorted(set(C) ^ set(T)))
ids = {C[p]['Id']: T[p]['Id'] for p in C}


def remap(v):
    if isinstance(v, str):
        v = v.replace(SUFFIX, '')
        if v in plain:
            return plain[v]
        return ','.join(ids.get(x, x) for x in v.split(','))
    if isinstance(v, list):
        return [remap(x) for x in v]
    if isinstance(v, dict):
        return {remap(k): remap(x) for k, x in v.items()}
    return v


def clear(v):
    if isinstance(v, str) and v.startswith('om-clear-1:'):
        return base64.b64decode(v[11:]).decode()
    if isinstance(v, list):
        return [clear(x) for x in v]
    if isinstance(v, dict):
        return {k: clear(x) for k, x in v.items()}
    return v


by_id = {d['Id']: d for d in T.values()}
n = 0
for e in json.load(open(os.path.join(pkg, 'manifest.json')))['Entries']:
    src = json.load(open(os.path.join(pkg, e['DocumentSource'])))
    want = remap(src)
    got = clear(by_id[want['Id']])
    for k in sorted(set(want) | set(got)):
        if k not in got and k in VOLATILE:
            continue
        if want.get(k, '<absent>') != got.get(k, '<absent>'):
            print('%s: %s: %r, the target has %r' % (e['DocumentSource'], k,
                  want.get(k, '<absent>'), got.get(k, '<absent>')))
            sys.exit(1)
    n += 1
print('%d documents equal, member by member' % n)
