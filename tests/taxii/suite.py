"""TAXII 2.1 interoperability suite: the OASIS client (taxii2-client) and validator
(stix2-validator) against a live three-node Entente demo.

usage: suite.py DEMO_JSON
Exits non-zero on the first failed check; prints one line per check and a closing tally.
"""
import json
import sys
import time
import uuid

import requests
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

TAXII = "application/taxii+json;version=2.1"
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP_AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
EXT = "extension-definition--7aee7a7d-fad2-4a75-8027-3933f3b27e31"

passed = 0
failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   %s" % name)
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def indicator(i, marking_refs, modified=None):
    ts = "2026-11-01T00:00:00.000Z"
    return {
        "type": "indicator", "spec_version": "2.1", "id": "indicator--%s" % uuid.uuid4(),
        "created": ts, "modified": modified or ts, "name": "suite indicator %d" % i,
        "indicator_types": ["malicious-activity"], "pattern": "[ipv4-addr:value = '198.51.100.%d']" % (i % 250),
        "pattern_type": "stix", "valid_from": ts, "object_marking_refs": marking_refs,
    }


def releasable(codes):
    """The releasability marking-definition for a set of partner codes (id derived by the server;
    here we send the definition in the envelope with an id of our choosing)."""
    return {
        "type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--%s" % uuid.uuid4(),
        "created": "2026-01-01T00:00:00.000Z", "name": "releasable to " + ",".join(codes),
        "extensions": {EXT: {"extension_type": "property-extension", "releasable_to": sorted(codes)}},
    }


class Node:
    def __init__(self, d):
        self.partner = d["partner"]
        self.url = d["url"]
        self.user = d["username"]
        self.password = d["password"]
        self.token = d["token"]
        self.root = self.url + "/taxii2/entente/"

    def server(self):
        return Server(self.url + "/taxii2/", user=self.user, password=self.password)

    def collection(self, cid):
        return Collection(self.root + "collections/%s/" % cid, user=self.user, password=self.token)

    def raw(self, method, path, **kw):
        headers = kw.pop("headers", {})
        headers.setdefault("Accept", TAXII)
        return requests.request(method, self.root + path, auth=(self.user, self.password), headers=headers, **kw)

    def all_objects(self, cid):
        out = []
        for env in as_pages(self.collection(cid).get_objects, per_request=100):
            out.extend(env.get("objects", []))
        return out


def main():
    demo = json.load(open(sys.argv[1]))
    nodes = {n["partner"]: Node(n) for n in demo["nodes"]}
    eu, nato, jpn = nodes["EU"], nodes["NATO"], nodes["JPN"]

    # Discovery and API root.
    srv = eu.server()
    check("discovery lists the api root", len(srv.api_roots) == 1 and srv.default is not None)
    root = srv.api_roots[0]
    check("api root advertises TAXII 2.1", TAXII in root.versions, root.versions)

    # Collections: only the caller's.
    titles = {p: {c.title: c.id for c in n.server().api_roots[0].collections} for p, n in nodes.items()}
    bilateral = [t for t in titles["EU"] if t.startswith("EU–Japan")]
    check("EU sees the EU–Japan collection", len(bilateral) == 1, titles["EU"])
    check("JPN sees the EU–Japan collection", bilateral and bilateral[0] in titles["JPN"])
    check("NATO does not see the EU–Japan collection", bilateral and bilateral[0] not in titles["NATO"], titles["NATO"])
    bil_id = titles["EU"][bilateral[0]]
    trio_title = [t for t in titles["EU"] if t.endswith("cyber defence")][0]
    trio_id = titles["EU"][trio_title]
    r = nato.raw("GET", "collections/%s/" % bil_id)
    check("NATO gets 404 for the EU–Japan collection", r.status_code == 404, r.status_code)
    check("404 uses the TAXII error shape", r.headers.get("content-type") == TAXII and "http_status" in r.json(), r.text)

    # Add with status polling: to {EU, JPN} in the trio collection, and to all three.
    col = eu.collection(trio_id)
    before_nato = len(nato.all_objects(trio_id))
    m_ej, m_all = releasable(["EU", "JPN"]), releasable(["EU", "JPN", "NATO"])
    ej = [indicator(i, [TLP_AMBER, m_ej["id"]]) for i in range(120)]
    alln = [indicator(1000 + i, [TLP_GREEN, m_all["id"]]) for i in range(130)]
    st = col.add_objects({"objects": [m_ej, m_all] + ej + alln}, wait_for_completion=True, poll_interval=0.2, timeout=60)
    check("add_objects completes", st.status == "complete" and st.success_count == 250 and st.failure_count == 0,
          (st.status, st.success_count))
    st2 = eu.collection(trio_id).status if False else None  # status resource polled by the client above
    r = eu.raw("GET", "status/%s/" % st.id)
    check("status resource readable by its owner", r.status_code == 200 and r.json()["status"] == "complete")
    r = requests.get(nato.root + "status/%s/" % st.id, auth=(nato.user, nato.password), headers={"Accept": TAXII})
    check("status resource not visible on another node", r.status_code == 404)

    # Paging with as_pages.
    ids = {}
    pages = 0
    for env in as_pages(col.get_objects, per_request=40):
        pages += 1
        for o in env.get("objects", []):
            ids[o["id"]] = ids.get(o["id"], 0) + 1
    posted = {o["id"] for o in ej + alln}
    check("as_pages returns every posted object exactly once", posted <= set(ids) and all(ids[i] == 1 for i in posted),
          (len(posted - set(ids)), pages))
    check("as_pages used several pages", pages >= 7, pages)

    # Filters.
    def got(**kw):
        return [o["id"] for o in col.get_objects(**kw).get("objects", []) if o["type"] != "marking-definition" and o["type"] != "extension-definition"]
    one = ej[0]["id"]
    check("match[id]", got(id=one) == [one])
    check("match[id] comma = OR", sorted(got(id=[one, alln[0]["id"]])) == sorted([one, alln[0]["id"]]))
    check("match[type]", len(got(type="indicator", limit=1000)) >= 250)
    check("match[type] AND match[id]", got(type="report", id=one) == [])
    check("match[spec_version]", got(id=one, spec_version="2.1") == [one] and got(id=one, spec_version="2.0") == [])
    # Versions: post a newer version of one object.
    v2 = dict(ej[0], modified="2026-11-02T00:00:00.000Z", name="suite indicator 0 (v2)")
    col.add_objects({"objects": [m_ej, v2]}, wait_for_completion=True, poll_interval=0.2, timeout=60)
    last = col.get_objects(id=one)["objects"]
    check("match[version] default is last", [o["modified"] for o in last if o["id"] == one] == ["2026-11-02T00:00:00.000Z"])
    first = col.get_objects(id=one, version="first")["objects"]
    check("match[version]=first", [o["modified"] for o in first if o["id"] == one] == ["2026-11-01T00:00:00.000Z"])
    allv = col.get_objects(id=one, version="all")["objects"]
    check("match[version]=all", len([o for o in allv if o["id"] == one]) == 2)
    exact = col.get_objects(id=one, version="2026-11-01T00:00:00.000Z")["objects"]
    check("match[version]=timestamp", [o["name"] for o in exact if o["id"] == one] == ["suite indicator 0"])
    vs = col.object_versions(one)
    check("versions endpoint", vs.get("versions") == ["2026-11-01T00:00:00.000Z", "2026-11-02T00:00:00.000Z"], vs)
    obj = col.get_object(one)
    check("object endpoint", [o["name"] for o in obj["objects"] if o["id"] == one] == ["suite indicator 0 (v2)"])
    # added_after: only what was added after the first batch.
    mf = col.get_manifest(limit=10000)
    entries = {e["id"]: e for e in mf["objects"]}
    check("manifest lists every object with date_added, version, media type",
          posted <= set(entries) and all(e["media_type"] == "application/stix+json;version=2.1" for e in entries.values()))
    cut = entries[alln[-1]["id"]]["date_added"]
    after = got(added_after=cut, limit=1000)
    check("added_after", after == [one], after[:3])
    r = eu.raw("GET", "collections/%s/objects/?limit=5" % trio_id)
    check("X-TAXII-Date-Added-First/Last headers", "X-TAXII-Date-Added-First" in r.headers and "X-TAXII-Date-Added-Last" in r.headers)
    check("objects content type", r.headers.get("content-type") == TAXII)
    for q in ["added_after=yesterday", "limit=zero", "match[version]=soon", "match[type]=Not%20A%20Type", "limit=0"]:
        r = eu.raw("GET", "collections/%s/objects/?%s" % (trio_id, q))
        check("malformed filter %s → 400" % q, r.status_code == 400 and r.json().get("http_status") == "400", r.status_code)

    # Delete: own object yes; another partner's no.
    victim = alln[-1]["id"]
    col.delete_object(victim)
    check("delete own object", got(id=victim) == [])

    # A second partner sees exactly what was released to it.
    deadline = time.time() + 30
    while time.time() < deadline:
        j_ids = {o["id"] for o in jpn.all_objects(trio_id)}
        if {o["id"] for o in ej + alln[:-1]} <= j_ids and victim not in j_ids:
            break
        time.sleep(0.3)
    check("JPN sees objects released to {EU,JPN} and to all", {o["id"] for o in ej + alln[:-1]} <= j_ids)
    check("JPN does not see the deleted object", victim not in j_ids)
    deadline = time.time() + 30
    while time.time() < deadline:
        n_ids = {o["id"] for o in nato.all_objects(trio_id)}
        if {o["id"] for o in alln[:-1]} <= n_ids:
            break
        time.sleep(0.3)
    check("NATO sees the objects released to all three", {o["id"] for o in alln[:-1]} <= n_ids)
    check("NATO sees none of the {EU,JPN} objects", not ({o["id"] for o in ej} & n_ids))
    nato_own = indicator(5000, [TLP_GREEN, m_all["id"]])
    st = nato.collection(trio_id).add_objects({"objects": [m_all, nato_own]}, wait_for_completion=True, poll_interval=0.2, timeout=60)
    deadline = time.time() + 30
    while time.time() < deadline and nato_own["id"] not in {o["id"] for o in eu.all_objects(trio_id)}:
        time.sleep(0.3)
    nato_col_obj = [nato_own]
    r = nato.raw("GET", "collections/%s/objects/%s/" % (trio_id, one))
    check("NATO gets 404 for a {EU,JPN} object by id", r.status_code == 404)
    r = requests.delete(eu.root + "collections/%s/objects/%s/" % (trio_id, alln[0]["id"]), auth=(nato.user, nato.password), headers={"Accept": TAXII})
    check("NATO cannot delete at EU's node", r.status_code in (401, 403, 404), r.status_code)
    if nato_col_obj:
        r = eu.raw("DELETE", "collections/%s/objects/%s/" % (trio_id, nato_col_obj[0]["id"]))
        check("EU cannot delete NATO's object", r.status_code == 403, r.status_code)

    # Bad input: TAXII error shape, nothing stored.
    count = len(eu.all_objects(trio_id))
    def post(body, ct=TAXII, path=None):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return eu.raw("POST", path or "collections/%s/objects/" % trio_id, data=data, headers={"Content-Type": ct})
    r = post({"objects": [indicator(1, [TLP_GREEN]), {"type": "indicator", "spec_version": "2.1"}]})
    check("invalid STIX → 400", r.status_code == 400 and r.json().get("http_status") == "400", r.text[:200])
    r = post({"objects": [indicator(1, [TLP_GREEN])]}, ct="application/json")
    check("wrong media type → 415", r.status_code == 415, r.status_code)
    r = post(b'{"objects": [' + b"1," * (9 * 1024 * 1024) + b"1]}")
    check("oversize envelope → 413", r.status_code == 413, r.status_code)
    r = post({"objects": [indicator(1, [TLP_GREEN])]}, path="collections/%s/objects/" % uuid.uuid4())
    check("unknown collection → 404", r.status_code == 404)
    m_bad = releasable(["EU", "KOR"])
    r = post({"objects": [m_bad, indicator(1, [TLP_GREEN, m_bad["id"]])]})
    check("releasability marking naming a non-member → 422", r.status_code == 422, r.status_code)
    r = eu.raw("GET", "collections/%s/objects/?limit=5" % trio_id)
    tok = r.json()["next"]
    # A second user of the same node may not use the first user's paging token.
    requests.post(eu.url + "/api/v1/users", headers={"Authorization": "Bearer " + eu.token},
                  json={"username": "analyst2", "role": "analyst", "password": "analyst2-password"})
    r2 = requests.get(eu.root + "collections/%s/objects/?limit=5&next=%s" % (trio_id, tok),
                      auth=("analyst2", "analyst2-password"), headers={"Accept": TAXII})
    check("next token from another user → 400", r2.status_code == 400 and r2.json().get("http_status") == "400", r2.status_code)
    r3 = eu.raw("GET", "collections/%s/objects/?limit=5&next=%s" % (trio_id, tok))
    check("next token works for its own user", r3.status_code == 200 and r3.json().get("objects"))
    r2 = requests.get(eu.root + "collections/%s/objects/?limit=5&next=%s" % (trio_id, tok), auth=("reader-not-exists", "x"), headers={"Accept": TAXII})
    check("unknown user → 401", r2.status_code == 401)
    r = requests.get(eu.root + "collections/", auth=(eu.user, eu.password), headers={"Accept": "application/json"})
    check("wrong Accept → 406", r.status_code == 406)
    check("nothing stored by rejected requests", len(eu.all_objects(trio_id)) == count)

    # Every object served anywhere passes the OASIS validator (default options).
    opts = ValidationOptions()
    served = 0
    errors = []
    for n in nodes.values():
        for c in n.server().api_roots[0].collections:
            for o in n.all_objects(c.id):
                served += 1
                res = validate_instance(o, opts)
                if res.errors:
                    errors.append((o["id"], [str(e) for e in res.errors][:2]))
    check("every served object passes stix2-validator (%d objects)" % served, not errors, errors[:3])

    # Every exported object (STIX bundle export of each format) passes the validator too.
    exported = 0
    errors = []
    artifacts = []
    for n in nodes.values():
        formats = requests.get(n.url + "/api/v1/formats", headers={"Authorization": "Bearer " + n.token}).json()
        for f in formats:
            r = requests.get(n.url + "/api/v1/formats/%s/stix" % f["id"], headers={"Authorization": "Bearer " + n.token})
            if r.status_code != 200:
                errors.append((f["id"], r.status_code))
                continue
            bundle = r.json()
            for o in bundle["objects"]:
                exported += 1
                if o["type"] == "artifact":
                    artifacts.append((n, o))
                res = validate_instance(o, opts)
                if res.errors:
                    errors.append((o["id"], [str(e) for e in res.errors][:2]))
    check("every exported object passes stix2-validator (%d objects)" % exported, not errors and exported > 0, errors[:3])

    # The demo's annex file: exported as an artifact whose id is the one the OASIS library
    # derives from its hash, and whose URL gives those bytes.
    import hashlib
    import stix2
    wrong = []
    for n, o in artifacts:
        want = stix2.Artifact(hashes=o["hashes"], url=o["url"], mime_type=o["mime_type"]).id
        body = requests.get(o["url"], headers={"Authorization": "Bearer " + n.token}).content
        if want != o["id"] or hashlib.sha256(body).hexdigest() != o["hashes"]["SHA-256"]:
            wrong.append((n.partner, o["id"], want))
    check("exported files are artifacts with the OASIS id and a URL giving their bytes (%d)" % len(artifacts),
          artifacts and not wrong, wrong[:3])

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
