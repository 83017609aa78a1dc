"""A sipvicious-style flood: REGISTERs enumerating extensions (svwar's pattern), sent
from one address at a steady rate, answers ignored. Python like sipvicious itself, and
light enough (one sendto per packet, paced in 10 ms batches) that the flood costs the
machine little CPU beside the edge being measured.

usage: flood.py SOURCE_IP TARGET_IP:PORT PACKETS_PER_SECOND SECONDS USER_AGENT
"""
import socket
import sys
import time

source, target, rate, seconds, agent = sys.argv[1:6]
host, port = target.rsplit(":", 1)
rate, seconds = int(rate), float(seconds)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((source, 0))
local_port = sock.getsockname()[1]


def packet(n):
    ext = 100 + n % 9900
    return (
        f"REGISTER sip:{ext}@{host} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {source}:{local_port};branch=z9hG4bK-flood-{n};rport\r\n"
        f'From: "{ext}"<sip:{ext}@{host}>;tag=flood{n}\r\n'
        f'To: "{ext}"<sip:{ext}@{host}>\r\n'
        f"Call-ID: flood-{n}@{source}\r\n"
        "CSeq: 1 REGISTER\r\n"
        f"Contact: <sip:{ext}@{source}:{local_port}>\r\n"
        "Max-Forwards: 70\r\n"
        f"User-Agent: {agent}\r\n"
        "Expires: 3600\r\nContent-Length: 0\r\n\r\n"
    ).encode()


packets = [packet(n) for n in range(10000)]
destination = (host, int(port))
batch = max(1, rate // 100)
start = time.monotonic()
sent = 0
while time.monotonic() - start < seconds:
    for _ in range(batch):
        try:
            sock.sendto(packets[sent % len(packets)], destination)
        except OSError:
            pass  # a full socket buffer: the packet is lost, as on a network
        sent += 1
    ahead = start + sent / rate - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
print(sent)
