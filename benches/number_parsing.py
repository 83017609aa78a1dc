"""Google libphonenumber (the `phonenumbers` package) on the inputs of
number_parsing.rs: parse with default region FR, then number type.

Usage: python number_parsing.py INPUTS OUTPUTS

Reads one input per line, times parse + number_type over all of them (file I/O
excluded), writes one result per line to OUTPUTS ("+E164 CALLING_CODE TYPE" or "ERROR") and
prints "seconds=<float> count=<int>". SIP URIs are turned into the tel: URI of their
user part first (libphonenumber reads RFC 3966 tel: URIs, not SIP), inside the timed
loop, as our parser does the same work.
"""

import sys
import time

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

TYPE_NAMES = {
    getattr(PhoneNumberType, n): n for n in dir(PhoneNumberType) if n.isupper()
}


def sip_to_tel(s):
    s = s.strip()
    if "<" in s:
        s = s[s.index("<") + 1 :]
        s = s.split(">", 1)[0]
    head = s[:5].lower()
    if head.startswith("sip:") or head.startswith("sips:"):
        user = s.split(":", 1)[1].split("@", 1)[0]
        return "tel:" + user
    return s


def main():
    inputs_path, outputs_path = sys.argv[1], sys.argv[2]
    with open(inputs_path, encoding="utf-8") as f:
        inputs = f.read().split("\n")
    if inputs and inputs[-1] == "":
        inputs.pop()
    results = [None] * len(inputs)
    parse = phonenumbers.parse
    number_type = phonenumbers.number_type
    start = time.perf_counter()
    for i, s in enumerate(inputs):
        try:
            n = parse(sip_to_tel(s), "FR")
            results[i] = (n, number_type(n))
        except NumberParseException:
            results[i] = None
    seconds = time.perf_counter() - start
    with open(outputs_path, "w", encoding="utf-8") as f:
        for r in results:
            if r is None:
                f.write("ERROR\n")
            else:
                e164 = phonenumbers.format_number(r[0], phonenumbers.PhoneNumberFormat.E164)
                cc = r[0].country_code
                f.write(f"{e164} {cc} {TYPE_NAMES.get(r[1], r[1])}\n")
    print(f"seconds={seconds:.6f} count={len(inputs)}")


if __name__ == "__main__":
    main()
