"""Runs one third-party ISAPI client against a device and prints what it saw as JSON.

Used by isapi/tests/interop.rs against the simulator: device info, streaming channels, a
search over a time window (every page), and a download of the first recording found, with
the size and CRC-32 of what came back beside what the device's /sim/checksum says.

    python interop.py --client hikvisionapi|hikload --url http://127.0.0.1:PORT \
        --user admin --password PASS --track 101 --start 2026-11-24T10:00:00Z \
        --end 2026-11-24T11:00:00Z

Exit status 0 with one JSON object on stdout, or non-zero with the client's error on stderr.
"""

import argparse
import json
import sys
import urllib.parse
import uuid
import zlib

import requests


def as_list(value):
    """xmltodict and hikload give a dict for one child and a list for several."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def search_description(track, start, end, position):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<CMSearchDescription version="1.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
        f"<searchID>{str(uuid.uuid4()).upper()}</searchID>"
        f"<trackList><trackID>{track}</trackID></trackList>"
        f"<timeSpanList><timeSpan><startTime>{start}</startTime><endTime>{end}</endTime>"
        "</timeSpan></timeSpanList>"
        f"<maxResults>40</maxResults><searchResultPostion>{position}</searchResultPostion>"
        "<metadataList><metadataDescriptor>//recordType.meta.std-cgi.com</metadataDescriptor>"
        "</metadataList></CMSearchDescription>"
    )


def download_request(uri):
    escaped = uri.replace("&", "&amp;")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<downloadRequest version="1.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
        f"<playbackURI>{escaped}</playbackURI></downloadRequest>"
    )


def item_record(item):
    span = item.get("timeSpan") or {}
    media = item.get("mediaSegmentDescriptor") or {}
    return {
        "start": span.get("startTime"),
        "end": span.get("endTime"),
        "uri": media.get("playbackURI"),
    }


def seen_as(info, channels, uptime, recordings, body):
    """What a client saw, in the one shape both clients report."""
    return {
        "device_info": {
            "deviceName": info.get("deviceName"),
            "serialNumber": info.get("serialNumber"),
            "model": info.get("model"),
        },
        "channels": [int(c["id"]) for c in as_list(channels.get("StreamingChannel"))],
        "uptime": uptime,
        "recordings": recordings,
        "body": body,
    }


def with_hikvisionapi(args):
    from hikvisionapi import Client

    # The constructor probes /ISAPI/System/status (Basic first, then Digest).
    cam = Client(args.url, args.user, args.password, timeout=30)
    info = cam.System.deviceInfo(method="get")["DeviceInfo"]
    channels = cam.Streaming.channels(method="get")["StreamingChannelList"]
    status = cam.System.status(method="get")["DeviceStatus"]
    recordings = []
    position = 0
    while True:
        page = cam.ContentMgmt.search(
            method="post",
            data=search_description(args.track, args.start, args.end, position),
        )["CMSearchResult"]
        items = as_list((page.get("matchList") or {}).get("searchMatchItem"))
        recordings += [item_record(i) for i in items]
        position += len(items)
        if page["responseStatusStrg"] != "MORE" or not items:
            break
    body = b""
    if recordings:
        response = cam.ContentMgmt.download(
            method="get", data=download_request(recordings[0]["uri"]), type="opaque_data"
        )
        response.raise_for_status()
        body = response.content
    return seen_as(info, channels, status.get("deviceUpTime"), recordings, body)


def with_hikload(args):
    from hikload.hikvisionapi.classes import HikvisionServer

    host = urllib.parse.urlparse(args.url).netloc
    server = HikvisionServer(host, args.user, args.password)
    server.test_connection()
    info = server.System.getDeviceInfo()["DeviceInfo"]
    channels = server.Streaming.getChannels()["StreamingChannelList"]
    # hikload pages by searching again from the last item's start time.
    result = server.ContentMgmt.search.getPastRecordingsForID(args.track, args.start, args.end)
    page = result["CMSearchResult"]
    items = as_list((page.get("matchList") or {}).get("searchMatchItem"))
    recordings = [item_record(i) for i in items]
    body = b""
    if recordings:
        response = server.ContentMgmt.search.downloadURI(recordings[0]["uri"])
        response.raise_for_status()
        body = response.content
    return seen_as(info, channels, None, recordings, body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=["hikvisionapi", "hikload"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--track", type=int, default=101)
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    args = parser.parse_args()
    seen = with_hikvisionapi(args) if args.client == "hikvisionapi" else with_hikload(args)
    body = seen.pop("body")
    download = None
    if seen["recordings"]:
        uri = seen["recordings"][0]["uri"]
        checksum = requests.get(
            f"{args.url}/sim/checksum", params={"playbackURI": uri}, timeout=30
        )
        checksum.raise_for_status()
        download = {
            "uri": uri,
            "bytes": len(body),
            "crc32": zlib.crc32(body),
            "sim_checksum": checksum.json(),
        }
    seen["client"] = args.client
    seen["download"] = download
    json.dump(seen, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
