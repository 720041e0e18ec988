"""Web and app events as a Segment warehouse export: gzipped NDJSON, several files per day.

Two kinds of web visitor, so the ground truth is exactly what the data can prove:

- Known people (anyone who is also in another source, plus some web-only people) browse on one or
  two devices, each with its own ``anonymousId``, anonymously at first, and log in on every device
  at some session: an ``identify`` carrying both ids, or on a later device sometimes an ``alias``
  (``previousId`` = that device's anonymousId). Every anonymousId of a known person is therefore
  tied to their ``userId`` by a message in the files.
- Prospects (``PROSPECT_SHARE`` of web-only people, about a quarter of all anonymousIds) never
  identify: one anonymousId each, page and product views, sometimes a cart, never an order. They
  are their own truth person, since nothing could link them to anyone; a visitor who cleared
  cookies would simply be another prospect.

Clock skew between device and server is simulated so
``receivedAt - (sentAt - originalTimestamp)`` recovers the true time. About 0.1% of lines are
realistically broken (truncated JSON, ``track`` without ``event``, no identity, bad timestamps)
and a few messages are delivered twice with the same ``messageId``.

Files: ``web/events-YYYY-MM-DD-NNN.ndjson.gz`` where the date is the ``receivedAt`` day.
"""

from __future__ import annotations

import json
import math
import random
from datetime import date
from pathlib import Path
from typing import IO, Any

from cdp.sample_data.noise import Noise
from cdp.sample_data.people import Population
from cdp.sample_data.vocab import CAMPAIGNS, PAGES, PRODUCTS, REFERRERS, SITE, USER_AGENTS
from cdp.sample_data.writers import TimeFormatter, TruthWriter, epoch_seconds, open_gzip_text

WINDOW_DAYS = 60
# Share of web-only people who never identify (prospects); everyone else on the web logs in.
PROSPECT_SHARE = 0.7
SECOND_DEVICE_SHARE = 0.22
MALFORMED_SHARE = 0.001
DUPLICATE_SHARE = 0.0008
BATCH_SESSION_SHARE = 0.01
EVENTS_PER_FILE = 60_000
_APP_SCREENS = ("Home", "Product List", "Product Detail", "Cart", "Checkout", "Account", "Store Locator")
_WEB_LIBRARY = {"name": "analytics.js", "version": "next-1.70.0"}
_IOS_LIBRARY = {"name": "analytics-ios", "version": "4.1.8"}
_ANDROID_LIBRARY = {"name": "analytics-android", "version": "4.11.3"}
_BAD_TIMESTAMPS = ("2026-13-45T99:99:99Z", "yesterday", "0000-00-00T00:00:00Z", "NaN")

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _between(rng: random.Random, low: int, high: int) -> int:
    # random.randint is several times slower and this runs tens of millions of times at 1M people.
    return low + int(rng.random() * (high - low + 1))


def _pick(rng: random.Random, options: tuple | list) -> Any:
    return options[int(rng.random() * len(options))]


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


class _Device:
    """One browser or app install: its anonymous id, clock skew and constant context."""

    def __init__(self, rng: random.Random) -> None:
        self.anonymous_id = _uuid(rng)
        self.is_app = rng.random() < 0.12
        roll = rng.random()
        if roll < 0.9:
            self.skew_ms = int(rng.gauss(0, 1500))
        elif roll < 0.99:
            self.skew_ms = _between(rng, -600_000, 600_000)
        elif roll < 0.999:
            self.skew_ms = _pick(rng, (-1, 1)) * _between(rng, 3_600_000, 7_200_000)
        else:
            self.skew_ms = -_between(rng, 300, 400) * 86_400_000  # a phone whose date was never set
        ip = f"{_pick(rng, (24, 47, 67, 71, 73, 98, 108, 174))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if self.is_app:
            ios = rng.random() < 0.55
            self.context: dict[str, Any] = {
                "library": _IOS_LIBRARY if ios else _ANDROID_LIBRARY,
                "app": {"name": "Northwind", "version": "5.12.0", "build": "5120"},
                "device": {"type": "ios" if ios else "android", "model": "iPhone15,2" if ios else "Pixel 8"},
                "os": {"name": "iOS" if ios else "Android", "version": "18.1" if ios else "14"},
                "ip": ip, "locale": "en-US", "timezone": "America/New_York",
            }
        else:
            self.context = {"library": _WEB_LIBRARY, "userAgent": _pick(rng, USER_AGENTS), "ip": ip, "locale": "en-US"}
        # Encoded once: the context is most of each line and identical across a device's messages.
        self.context_json = _dumps(self.context)


class _FileSet:
    """Buffers lines per (day, shard) and appends them to that day's gzip files."""

    def __init__(self, folder: Path, shards: int) -> None:
        self.folder = folder
        self.shards = shards
        self._buffers: dict[tuple[str, int], list[str]] = {}
        self._files: dict[tuple[str, int], IO[str]] = {}

    def write(self, day: str, shard: int, line: str) -> None:
        key = (day, shard)
        buffer = self._buffers.setdefault(key, [])
        buffer.append(line)
        if len(buffer) >= 2000:
            self._flush(key)

    def _flush(self, key: tuple[str, int]) -> None:
        handle = self._files.get(key)
        if handle is None:
            handle = open_gzip_text(self.folder / f"events-{key[0]}-{key[1] + 1:03d}.ndjson.gz")
            self._files[key] = handle
        handle.write("\n".join(self._buffers[key]) + "\n")
        self._buffers[key] = []

    def close(self) -> int:
        for key in sorted(self._buffers):
            if self._buffers[key]:
                self._flush(key)
        for handle in self._files.values():
            handle.close()
        return len(self._files)


class WebWriter:
    """Generates and writes every web person's sessions; counts what it wrote."""

    def __init__(self, out_dir: Path, population: Population, seed: int, run_date: date, truth: TruthWriter):
        self.folder = out_dir / "web"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.people = population
        self.rng = random.Random(f"{seed}:web")
        self.noise = Noise(self.rng)
        self.truth = truth
        self.fmt = TimeFormatter()
        self.end_ms = epoch_seconds(run_date) * 1000 + 86_400_000
        self.start_ms = self.end_ms - WINDOW_DAYS * 86_400_000
        expected = 10 * len(population)
        self.files = _FileSet(self.folder, max(2, math.ceil(expected / WINDOW_DAYS / EVENTS_PER_FILE)))
        self.order_number = 0
        self.counts = {"web_events": 0, "web_malformed_lines": 0, "web_duplicate_lines": 0,
                       "web_batches": 0, "web_users": 0, "web_anonymous_ids": 0}

    # -- people and sessions -------------------------------------------------------------
    def run(self) -> dict[str, int]:
        """Write all web files; returns counts.

        ``web_events`` counts distinct well-formed messages (batch members included), i.e. the rows
        ``raw.web_events`` should end up with; re-delivered copies are ``web_duplicate_lines``.
        """
        on_web = self.people.in_source["web"].nonzero()[0].tolist()
        for i in on_web:
            self._person(i)
        self.counts["web_files"] = self.files.close()
        return self.counts

    def _is_prospect(self, i: int) -> bool:
        # Only someone the business knows nothing else about can stay anonymous: anyone who is
        # also in the store, call-center or list data reached us with their details, and online
        # they log in, so every device they used gets tied to them.
        in_source = self.people.in_source
        if any(in_source[name][i] for name in in_source if name != "web"):
            return False
        return self.rng.random() < PROSPECT_SHARE

    def _person(self, i: int) -> None:
        if self._is_prospect(i):
            self._prospect(i)
            return
        rng = self.rng
        devices = [_Device(rng)]
        if rng.random() < SECOND_DEVICE_SHARE:
            devices.append(_Device(rng))
        sessions = 1 + min(int(rng.expovariate(1 / 2.3)), 20)
        sessions = max(sessions, len(devices))
        # Sessions start at least 3 hours before the run day ends so no (skewed) timestamp passes it.
        latest = self.end_ms - 3 * 3_600_000
        starts = sorted(_between(rng, self.start_ms, latest - 1) for _ in range(sessions))
        device_of = [k % len(devices) if k < len(devices) else rng.randrange(len(devices)) for k in range(sessions)]
        rng.shuffle(device_of)
        user_id = f"{rng.getrandbits(96):024x}"
        sessions_of_device: dict[int, list[int]] = {}
        for s, d in enumerate(device_of):
            sessions_of_device.setdefault(d, []).append(s)
        # Every device logs in at some session (identify, or alias on a second device), so each
        # anonymousId of a known person is provably theirs; sessions before it stay anonymous.
        own = sessions_of_device[0]
        identify_at = {0: own[0] if rng.random() < 0.4 else _pick(rng, own)}
        if len(devices) > 1:
            own = sessions_of_device[1]
            later = [s for s in own if starts[s] >= starts[identify_at[0]]]
            identify_at[1] = _pick(rng, later or own)
        # The earliest login is the sign-up; other devices log in to the existing account.
        signup_device = min(identify_at, key=lambda d: (identify_at[d], d))
        person_id = self.people.person_id[i]
        for s, start in enumerate(starts):
            d = device_of[s]
            known = user_id if s >= identify_at[d] else None
            login = "" if s != identify_at[d] else ("signup" if d == signup_device else "login")
            self._session(i, devices[d], start, known, login=login, shard=i % self.files.shards)
        for device in devices:
            self.truth.add("web", f"anon:{device.anonymous_id}", person_id)
            self.counts["web_anonymous_ids"] += 1
        self.truth.add("web", f"user:{user_id}", person_id)
        self.counts["web_users"] += 1

    def _prospect(self, i: int) -> None:
        # A visitor who never identifies: one browser, a few browsing sessions, no orders. If they
        # cleared cookies they would come back as another unknowable id, i.e. another prospect.
        rng = self.rng
        device = _Device(rng)
        latest = self.end_ms - 3 * 3_600_000
        sessions = 1 + min(int(rng.expovariate(1 / 2.0)), 12)
        for start in sorted(_between(rng, self.start_ms, latest - 1) for _ in range(sessions)):
            self._session(i, device, start, None, login="", shard=i % self.files.shards)
        self.truth.add("web", f"anon:{device.anonymous_id}", self.people.person_id[i])
        self.counts["web_anonymous_ids"] += 1

    def _session(self, i: int, device: _Device, start: int, user_id: str | None, *, login: str, shard: int) -> None:
        """One visit; ``login`` is "signup" or "login" when the user identifies in it, else ""."""
        rng = self.rng
        messages: list[dict[str, Any]] = []
        t = start
        campaign = _pick(rng, CAMPAIGNS) if rng.random() < 0.35 else None
        referrer = "" if campaign else _pick(rng, REFERRERS)
        messages.append(self._view(device, t, user_id, landing_campaign=campaign, referrer=referrer))
        if login:
            t += _between(rng, 20_000, 180_000)
            if login == "login" and rng.random() < 0.3:
                messages.append(self._base("alias", device, t, user_id) | {"previousId": device.anonymous_id})
            else:
                if login == "signup" and rng.random() < 0.5:
                    messages.append(self._base("track", device, t, user_id)
                                    | {"event": "Signed Up", "properties": {"method": "email"}})
                messages.append(self._base("identify", device, t + 150, user_id) | {"traits": self._traits(i)})
                if self.people.company[i] and rng.random() < 0.6:
                    company = self.people.company[i]
                    messages.append(self._base("group", device, t + 400, user_id)
                                    | {"groupId": "grp_" + "".join(c for c in company.lower() if c.isalnum())[:16],
                                       "traits": {"name": company}})
        elif user_id is not None and rng.random() < 0.25:
            # Returning users re-identify on login; traits drift between calls like real forms do.
            t += _between(rng, 5_000, 60_000)
            messages.append(self._base("identify", device, t, user_id) | {"traits": self._traits(i)})
        for _ in range(_between(rng, 0, 5)):
            t += _between(rng, 8_000, 150_000)
            roll = rng.random()
            if roll < 0.5:
                messages.append(self._view(device, t, user_id, landing_campaign=None, referrer=SITE + "/"))
            elif roll < 0.8:
                messages.append(self._product("Product Viewed", device, t, user_id))
            elif roll < 0.95 or user_id is None:
                # Anonymous visitors browse and fill carts; subscribing would have identified them.
                messages.append(self._product("Product Added" if roll < 0.95 else "Product Viewed", device, t, user_id))
            else:
                messages.append(self._base("track", device, t, user_id)
                                | {"event": "Newsletter Subscribed", "properties": {"list": "weekly_digest"}})
        if user_id is not None and rng.random() < 0.12:
            t += _between(rng, 30_000, 300_000)
            messages.append(self._order(device, t, user_id))
        self._emit(messages, device, shard, batch=campaign is None and rng.random() < BATCH_SESSION_SHARE)

    # -- messages ------------------------------------------------------------------------
    def _base(self, kind: str, device: _Device, true_ms: int, user_id: str | None) -> dict[str, Any]:
        rng = self.rng
        flush_ms = _between(rng, 20, 9000)
        network_ms = _between(rng, 40, 900)
        original = true_ms + device.skew_ms
        received = true_ms + flush_ms + network_ms
        rfc = self.fmt.rfc3339_ms
        message: dict[str, Any] = {"type": kind, "messageId": _uuid(rng), "anonymousId": device.anonymous_id}
        if user_id is not None:
            message["userId"] = user_id
        message["originalTimestamp"] = rfc(original)
        message["sentAt"] = rfc(original + flush_ms)
        message["receivedAt"] = rfc(received)
        message["timestamp"] = rfc(true_ms + network_ms)
        message["_received_ms"] = received  # routing only; removed before writing
        return message

    def _view(self, device: _Device, t: int, user_id: str | None, *, landing_campaign: tuple | None,
              referrer: str) -> dict[str, Any]:
        rng = self.rng
        path, title = PAGES[0] if landing_campaign and rng.random() < 0.5 else _pick(rng, PAGES)
        if device.is_app:
            name = _pick(rng, _APP_SCREENS)
            return self._base("screen", device, t, user_id) | {"name": name, "properties": {"name": name}}
        search = ""
        if landing_campaign:
            source, medium, name, term, content = landing_campaign
            search = f"?utm_source={source}&utm_medium={medium}&utm_campaign={name}"
            search += (f"&utm_term={term.replace(' ', '+')}" if term else "") + (f"&utm_content={content}" if content else "")
        url = SITE + path + search
        page = {"url": url, "path": path, "title": title, "referrer": referrer, "search": search}
        message = self._base("page", device, t, user_id)
        extra: dict[str, Any] = {"page": page}
        if landing_campaign:
            source, medium, name, term, content = landing_campaign
            extra["campaign"] = {"source": source, "medium": medium, "name": name, "term": term, "content": content}
        message["_context_extra"] = extra  # merged into the device context when written
        message["name"] = title
        message["properties"] = {"url": url, "path": path, "title": title, "referrer": referrer}
        return message

    def _product(self, event: str, device: _Device, t: int, user_id: str | None) -> dict[str, Any]:
        sku, name, category, price = _pick(self.rng, PRODUCTS)
        properties: dict[str, Any] = {"product_id": sku, "sku": sku, "name": name, "category": category,
                                      "price": price, "currency": "USD"}
        if event == "Product Added":
            properties["quantity"] = _between(self.rng, 1, 3)
        return self._base("track", device, t, user_id) | {"event": event, "properties": properties}

    def _order(self, device: _Device, t: int, user_id: str) -> dict[str, Any]:
        rng = self.rng
        self.order_number += 1
        products = []
        revenue = 0.0
        for _ in range(_between(rng, 1, 3)):
            sku, name, category, price = _pick(rng, PRODUCTS)
            quantity = _between(rng, 1, 2)
            revenue += price * quantity
            products.append({"product_id": sku, "name": name, "category": category, "price": price, "quantity": quantity})
        properties = {"order_id": f"WEB-{self.order_number:08d}", "revenue": round(revenue, 2), "currency": "USD",
                      "products": products}
        return self._base("track", device, t, user_id) | {"event": "Order Completed", "properties": properties}

    def _traits(self, i: int) -> dict[str, Any]:
        rng, noise, people = self.rng, self.noise, self.people
        traits: dict[str, Any] = {}
        if rng.random() < 0.92:
            use_work = people.work_email[i] and rng.random() < 0.3
            traits["email"] = noise.email(people.work_email[i] if use_work else people.email[i])
        if rng.random() < 0.45:
            traits["phone"] = noise.phone(people.mobile[i])
        if rng.random() < 0.8:
            first = noise.placeholder_text(noise.first_name(people.first_name[i], accent=0.05))
            last = noise.last_name(people.last_name[i], accent=0.05)
            if noise.chance(0.01):
                first, last = last, first
            traits["first_name"], traits["last_name"] = first, last
        if rng.random() < 0.25:
            traits["birthday"] = people.birth_date[i]
        if rng.random() < 0.2:
            a = people.address[i]
            traits["address"] = {"street": noise.street(a.number, a.street_name, a.suffix_index, a.direction_index, a.unit),
                                 "city": a.city, "postal_code": noise.postcode(a.zip_code), "state": a.state,
                                 "country": "US"}
        if rng.random() < 0.7:
            traits["consent"] = {"email_marketing": rng.random() < 0.6, "ad_targeting": rng.random() < 0.45}
        return traits

    # -- output --------------------------------------------------------------------------
    def _emit(self, messages: list[dict[str, Any]], device: _Device, shard: int, *, batch: bool) -> None:
        rng = self.rng
        day_of = self.fmt.day
        if batch:
            first_received = messages[0]["_received_ms"]
            for message in messages:
                del message["_received_ms"]
                message.pop("_context_extra", None)
            envelope = {"batch": messages, "context": device.context, "sentAt": messages[-1]["sentAt"]}
            self.files.write(day_of(first_received // 1000), shard, _dumps(envelope))
            self.counts["web_events"] += len(messages)
            self.counts["web_batches"] += 1
            return
        for message in messages:
            day = day_of(message.pop("_received_ms") // 1000)
            extra = message.pop("_context_extra", None)
            context_json = device.context_json if extra is None else device.context_json[:-1] + "," + _dumps(extra)[1:]
            line = _dumps(message)[:-1] + ',"context":' + context_json + "}"
            self.files.write(day, shard, line)
            self.counts["web_events"] += 1
            roll = rng.random()
            if roll < DUPLICATE_SHARE:
                self.files.write(day, shard, line)
                self.counts["web_duplicate_lines"] += 1
            elif roll < DUPLICATE_SHARE + MALFORMED_SHARE:
                message["context"] = device.context | (extra or {})
                self.files.write(day, shard, self._malformed(message, line))
                self.counts["web_malformed_lines"] += 1

    def _malformed(self, message: dict[str, Any], line: str) -> str:
        # A broken copy of a good message: ids it carries always also appear in valid lines,
        # so quarantining it never removes a person record from the truth.
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:
            return line[: rng.randrange(10, max(11, len(line) - 5))]
        broken = dict(message, messageId=_uuid(rng))
        if kind == 1:
            broken["type"] = "track"
            broken.pop("event", None)
            broken.setdefault("properties", {})
        elif kind == 2:
            broken.pop("userId", None)
            broken.pop("anonymousId", None)
        else:
            bad = _pick(rng, _BAD_TIMESTAMPS)
            for key in ("originalTimestamp", "sentAt", "receivedAt", "timestamp"):
                broken[key] = bad
        return _dumps(broken)


def write_web_events(out_dir: Path, population: Population, seed: int, run_date: date,
                     truth: TruthWriter) -> dict[str, int]:
    """Write ``web/events-*.ndjson.gz`` for every web person and their truth rows; returns counts."""
    return WebWriter(out_dir, population, seed, run_date, truth).run()
