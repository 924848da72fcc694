#!/usr/bin/env python3
"""A Modbus TCP server on loopback built on pymodbus, a peer hazgate did not write.

Integration tests start it with known register values, read them through the
gateway and compare. It prints "READY <port>" on stdout once it listens and
serves until killed, so a test can kill it (comm loss) and start it again on
the same port (recovery).

    pymodbus_server.py --port 0 --unit 1 --size 100 \
        --input 0=250,1=int16:-5,2=uint32:70000,4=float32:12.5 \
        --holding 10=int32:-123456 --coils 3=1 --discrete 0=1

Register values are ADDR=VAL (a raw 16-bit word, decimal or 0x hex) or
ADDR=TYPE:VAL with TYPE one of uint16, int16, uint32, int32, float32; 32-bit
values take two registers, high word first, big-endian bytes (ABCD). Bits are
ADDR=0|1. Every table holds addresses 0..size-1; a read past that answers
exception 0x02 (illegal data address).

Written for pymodbus 3.0.0rc1 (Debian's python3-pymodbus).
"""

import argparse
import asyncio
import logging
import struct
import sys

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.server.async_io import ModbusTcpServer

PACK = {
    "uint16": ">H",
    "int16": ">h",
    "uint32": ">I",
    "int32": ">i",
    "float32": ">f",
}


def words(spec):
    """Turn VAL or TYPE:VAL into a list of 16-bit register words."""
    if ":" not in spec:
        v = int(spec, 0)
        if not 0 <= v <= 0xFFFF:
            raise ValueError(f"raw register value {spec} outside 0..65535")
        return [v]
    typ, val = spec.split(":", 1)
    if typ not in PACK:
        raise ValueError(f"unknown type {typ!r}")
    num = float(val) if typ == "float32" else int(val, 0)
    raw = struct.pack(PACK[typ], num)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def assignments(arg, bits):
    """Parse ADDR=VAL,... into {addr: [values]}."""
    out = {}
    if not arg:
        return out
    for item in arg.split(","):
        item = item.strip()
        if not item:
            continue
        addr, _, val = item.partition("=")
        if not val:
            raise ValueError(f"{item!r}: want ADDR=VAL")
        a = int(addr, 0)
        if bits:
            if val not in ("0", "1"):
                raise ValueError(f"{item!r}: a bit is 0 or 1")
            out[a] = [val == "1"]
        else:
            out[a] = words(val)
    return out


def block(size, values, bits):
    data = [False if bits else 0] * size
    for addr, vals in values.items():
        if addr + len(vals) > size:
            raise ValueError(f"address {addr} (+{len(vals)}) past --size {size}")
        data[addr : addr + len(vals)] = vals
    return ModbusSequentialDataBlock(0, data)


async def serve(args, slave):
    context = ModbusServerContext(slaves={args.unit: slave}, single=False)
    server = ModbusTcpServer(
        context,
        address=("127.0.0.1", args.port),
        allow_reuse_address=True,  # a restart reuses the port a test knows
    )
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    port = server.server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    await task


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--unit", type=int, default=1)
    p.add_argument("--size", type=int, default=100, help="addresses per table")
    p.add_argument("--input", default="")
    p.add_argument("--holding", default="")
    p.add_argument("--coils", default="")
    p.add_argument("--discrete", default="")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        slave = ModbusSlaveContext(
            ir=block(args.size, assignments(args.input, False), False),
            hr=block(args.size, assignments(args.holding, False), False),
            co=block(args.size, assignments(args.coils, True), True),
            di=block(args.size, assignments(args.discrete, True), True),
            zero_mode=True,  # address 0 is register 0, as on the wire
        )
    except ValueError as exc:
        p.error(str(exc))
    try:
        asyncio.run(serve(args, slave))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
