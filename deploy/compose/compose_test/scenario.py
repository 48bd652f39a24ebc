"""The checks through the gateway: sales written, the copy converged, the partitions spread and moved."""

# ruff: noqa: S310
from __future__ import annotations

import json
import random
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from .engine import containers
from .shell import GATEWAY, Failed, podman, say, step

TOPIC = "sales.events"
GROUP = "mongo-projector"
PARTITIONS = 6
CONSUMERS = 3
STORES = ("Denver", "Seattle", "London", "Austin", "New York", "San Diego")
METHODS = ("Online", "Phone", "In store")
ITEMS = {"pens": "writing", "notepad": "office", "binder": "school", "laptop": "electronics"}


def call(
    method: str,
    path: str,
    token: str = "",
    body: Any = None,
    headers: dict[str, str] | None = None,
    expect: Sequence[int] = (200,),
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{GATEWAY}{path}", data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer_headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, raw = error.code, dict(error.headers), error.read()
    payload = json.loads(raw) if raw else None
    if status not in expect:
        raise Failed(f"{method} {path} answered {status}: {raw[:500]!r}")
    return status, answer_headers, payload


def new_sale(rng: random.Random) -> dict[str, Any]:
    names = rng.sample(sorted(ITEMS), rng.randint(1, 3))
    return {
        "saleDate": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:30:00.000Z",
        "items": [
            {
                "name": n,
                "tags": [ITEMS[n], "compose"],
                "price": f"{rng.randint(1, 99999) / 100:.2f}",
                "quantity": rng.randint(1, 9),
            }
            for n in names
        ],
        "storeLocation": rng.choice(STORES),
        "customer": {
            "gender": rng.choice("MF"),
            "age": rng.randint(18, 80),
            "email": f"c{rng.randint(1, 30)}@example.com",
            "satisfaction": rng.randint(1, 5),
        },
        "couponUsed": rng.random() < 0.3,
        "purchaseMethod": rng.choice(METHODS),
    }


def comparable(sale: dict[str, Any]) -> dict[str, Any]:
    """The dataset fields of a sale, prices as decimals: what the writer took and the copy must show."""
    return {
        "storeLocation": sale["storeLocation"],
        "purchaseMethod": sale["purchaseMethod"],
        "couponUsed": sale["couponUsed"],
        "customer": {k: sale["customer"][k] for k in ("gender", "age", "email", "satisfaction")},
        "items": [(i["name"], sorted(i["tags"]), Decimal(str(i["price"])), i["quantity"]) for i in sale["items"]],
    }


class Writes:
    """Sales written through the gateway, and what the copy must end up showing."""

    def __init__(self, token: str, seed: int) -> None:
        self.token = token
        self.rng = random.Random(seed)
        self.live: dict[str, tuple[int, dict[str, Any]]] = {}
        self.deleted: dict[str, int] = {}
        self.lock = threading.Lock()

    def create(self) -> str:
        sale = new_sale(self.rng)
        _, _, view = call(
            "POST", "/api/sales", self.token, sale, {"Idempotency-Key": secrets.token_hex(8)}, expect=(201,)
        )
        with self.lock:
            self.live[view["id"]] = (view["version"], sale)
        return str(view["id"])

    def edit(self, sale_id: str) -> None:
        version, sale = self.live[sale_id]
        sale = {**sale, "storeLocation": self.rng.choice(STORES), "couponUsed": not sale["couponUsed"]}
        _, _, view = call("PUT", f"/api/sales/{sale_id}", self.token, sale, {"If-Match": f'"{version}"'})
        with self.lock:
            self.live[sale_id] = (view["version"], sale)

    def delete(self, sale_id: str) -> None:
        version, _ = self.live[sale_id]
        call("DELETE", f"/api/sales/{sale_id}", self.token, headers={"If-Match": f'"{version}"'}, expect=(204,))
        with self.lock:
            del self.live[sale_id]
            self.deleted[sale_id] = version + 1

    def batch(self, creates: int) -> None:
        """Creates, then edits a third of them and deletes a sixth (of those created here)."""
        made = [self.create() for _ in range(creates)]
        for sale_id in made[: creates // 3]:
            self.edit(sale_id)
        for sale_id in made[creates // 3 : creates // 3 + creates // 6]:
            self.delete(sale_id)

    def check_copy(self, timeout: float = 120) -> None:
        """Every live sale in the copy at its version with its fields; every deleted one gone."""
        deadline = time.monotonic() + timeout
        for sale_id, (version, sale) in sorted(self.live.items()):
            while True:
                status, _, shown = call(
                    "GET", f"/api/sales/{sale_id}?min_version={version}&wait_ms=5000", self.token, expect=(200, 409)
                )
                if status == 200:
                    break
                if time.monotonic() > deadline:
                    raise Failed(f"sale {sale_id} not at version {version} in the copy: {shown}")
            document = shown.get("sale", shown)
            if comparable(document) != comparable(sale):
                raise Failed(
                    f"sale {sale_id} differs in the copy:\n  wrote {comparable(sale)}\n  copy  {comparable(document)}"
                )
        for sale_id in sorted(self.deleted):
            while True:
                status, _, shown = call("GET", f"/api/sales/{sale_id}", self.token, expect=(200, 404))
                if status == 404:
                    break
                if time.monotonic() > deadline:
                    raise Failed(f"deleted sale {sale_id} still in the copy: {shown}")
                time.sleep(1)
        say(f"copy converged: {len(self.live)} sales at their versions, {len(self.deleted)} deleted ones gone")


NAME_LOOKUP_FAILED = "Temporary failure in name resolution"
"""What a container says when podman's network DNS (dnsname's dnsmasq, reloaded as each container
joins) did not answer a lookup in time: seen right after `up`, once, from `auth create-user`."""


def worker_token(auth_container: str) -> str:
    """A technical worker made with auth's CLI in its container, signed in through the gateway. The CLI
    is run again (at most three times) when its lookup of the database's name failed in the network's
    DNS, not in the system under test."""
    email, password = f"compose-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(18)
    create = ("exec", "-i", auth_container, "auth", "create-user", "--email", email, "--role", "technical_worker")
    for attempt in range(1, 4):
        try:
            podman(*create, "--name", "Compose Test", "--password-stdin", stdin=password + "\n")
            break
        except Failed as failure:
            if NAME_LOOKUP_FAILED not in str(failure) or attempt == 3:
                raise
            say(f"auth create-user: the network's DNS did not resolve the database's name; again ({attempt}/3)")
            time.sleep(2)
    _, _, tokens = call("POST", "/api/auth/login", body={"email": email, "password": password})
    return str(tokens["access_token"])


def assignment(kafka_container: str) -> dict[int, tuple[str, str, int]]:
    """Partition of sales.events -> (consumer id, host, lag) of the projector's group, from Kafka's own tool."""
    output = podman(
        "exec",
        kafka_container,
        "/opt/kafka/bin/kafka-consumer-groups.sh",
        "--bootstrap-server",
        "localhost:9092",
        "--command-config",
        "/tmp/admin.properties",  # noqa: S108 - in the container: kafka-start.sh's admin login
        "--describe",
        "--group",
        GROUP,
        check=False,
        timeout=120,
    )
    owners: dict[int, tuple[str, str, int]] = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[1] == TOPIC and fields[2].isdigit():
            lag = int(fields[5]) if fields[5].isdigit() else -1
            owners[int(fields[2])] = (fields[6], fields[7], lag)
    return owners


def wait_spread(kafka_container: str, consumers: int, timeout: float = 180) -> dict[int, tuple[str, str, int]]:
    """Wait until all partitions are owned by exactly `consumers` members, each owning at least one."""
    deadline = time.monotonic() + timeout
    while True:
        owners = assignment(kafka_container)
        members = {owner for owner, _, _ in owners.values() if owner != "-"}
        if len(owners) == PARTITIONS and "-" not in (o for o, _, _ in owners.values()) and len(members) == consumers:
            return owners
        if time.monotonic() > deadline:
            raise Failed(f"partitions not spread over {consumers} consumers: {owners}")
        time.sleep(3)


def describe(owners: dict[int, tuple[str, str, int]], hosts: dict[str, str]) -> str:
    by_host: dict[str, list[int]] = {}
    for partition, (_, host, _) in sorted(owners.items()):
        by_host.setdefault(hosts.get(host.lstrip("/"), host), []).append(partition)
    return "; ".join(f"{name}: {parts}" for name, parts in sorted(by_host.items()))


def addresses() -> dict[str, str]:
    """Container address -> name, for the projector containers."""
    found = {}
    for c in containers(all_states=False):
        if c["service"] == "mongo-projector":
            inspected = json.loads(podman("inspect", c["name"]))[0]
            for network in (inspected.get("NetworkSettings", {}).get("Networks") or {}).values():
                found[network.get("IPAddress", "")] = c["name"]
    return found


def scenario() -> None:
    listed = {c["service"]: c["name"] for c in containers(all_states=False)}
    projectors = sorted(c["name"] for c in containers(all_states=False) if c["service"] == "mongo-projector")
    if len(projectors) != CONSUMERS:
        raise Failed(f"expected {CONSUMERS} mongo-projector containers, found {projectors}")
    call("GET", "/livez")
    writes = Writes(worker_token(listed["auth"]), seed=int(time.time()))
    with step("create, edit and delete 36 sales through the gateway"):
        writes.batch(36)
    writes.check_copy()

    owners = wait_spread(listed["kafka"], CONSUMERS)
    hosts = addresses()
    counts = sorted(
        sum(1 for o, _, _ in owners.values() if o == member) for member in {o for o, _, _ in owners.values()}
    )
    say(f"{PARTITIONS} partitions over {CONSUMERS} consumers ({counts}): {describe(owners, hosts)}")

    victim = projectors[-1]
    with step(f"stop {victim} while writing 24 more sales"):
        stopper = threading.Thread(target=podman, args=("stop", "-t", "30", victim), kwargs={"timeout": 90})
        stopper.start()
        writes.batch(24)
        stopper.join()
    owners = wait_spread(listed["kafka"], CONSUMERS - 1)
    victim_hosts = {host for host, name in hosts.items() if name == victim}
    if any(host.lstrip("/") in victim_hosts for _, host, _ in owners.values()):
        raise Failed(f"{victim} still owns partitions: {owners}")
    say(f"after the stop, {PARTITIONS} partitions over {CONSUMERS - 1} consumers: {describe(owners, hosts)}")
    with step("12 more sales after the rebalance"):
        writes.batch(12)
    writes.check_copy()
    deadline = time.monotonic() + 60
    while True:
        owners = assignment(listed["kafka"])
        if owners and all(lag == 0 for _, _, lag in owners.values()):
            break
        if time.monotonic() > deadline:
            raise Failed(f"the group did not commit up to the end of every partition: {owners}")
        time.sleep(2)
    say("every partition's committed offset is at its end (lag 0)")
    logs = podman("exec", listed["kafka"], "ls", "/var/lib/kafka/data").split()
    if f"{TOPIC}-0" not in logs:
        raise Failed(f"the topic's log is not on the kafka-data volume (/var/lib/kafka/data holds {logs})")
    say("the topic's log lives on the kafka-data volume")
