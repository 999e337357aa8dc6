"""The Samagra registry simulator: the embedded default's registry, in process.

Deterministic, so the demo and the docs can name IDs: the demo consumer number 100000000N
(`discom.demo`) is Samagra member 70000000N of family 7000000N, under the consumer's own name
(and its Hindi spelling). The contract's own example, member 123456789 "Ramesh Kumar Verma" of
family 12345678, is there too: against the demo's "Ramesh Kumar" it is a near match (a staff
review). Every other ID, `999999999` among them, is not found.
"""

from __future__ import annotations

from discom.demo import DEMO_CONSUMERS
from discom.kyc.samagra import Member, RegistryUnavailable

FIRST_MEMBER_ID, FIRST_FAMILY_ID = 700_000_001, 70_000_001

# The demo consumers' names as the registry spells them in Devanagari.
HINDI_NAMES = {
    "Ramesh Kumar": "रमेश कुमार",
    "Sunita Sharma": "सुनीता शर्मा",
    "Abdul Rahman": "अब्दुल रहमान",
    "Meena Patel": "मीना पटेल",
    "Gopal Yadav": "गोपाल यादव",
    "Lakshmi Bai": "लक्ष्मी बाई",
    "Vikram Singh": "विक्रम सिंह",
    "Farah Khan": "फ़राह ख़ान",
    "Anil Verma": "अनिल वर्मा",
    "Rekha Joshi": "रेखा जोशी",
    "Harish Patidar": "हरीश पाटीदार",
    "Pooja Malviya": "पूजा मालवीय",
    "Suresh Chouhan": "सुरेश चौहान",
    "Dinesh Rathore": "दिनेश राठौर",
    "Asha Kushwah": "आशा कुशवाह",
    "Rajendra Jain": "राजेंद्र जैन",
    "Bhagwati Devi": "भगवती देवी",
}
CONTRACT_EXAMPLE = Member("123456789", "12345678", "Ramesh Kumar Verma", "रमेश कुमार वर्मा",
                          "Indore")


def demo_member_id(index: int) -> str:
    """The member ID the simulator gives demo consumer number `index` (0-based)."""
    return f"{FIRST_MEMBER_ID + index}"


def demo_family_id(index: int) -> str:
    return f"{FIRST_FAMILY_ID + index}"


def demo_members() -> list[Member]:
    members = [Member(demo_member_id(index), demo_family_id(index), demo.name,
                      HINDI_NAMES.get(demo.name, ""), "Indore")
               for index, demo in enumerate(DEMO_CONSUMERS)]
    return [*members, CONTRACT_EXAMPLE]


class SimulatedRegistry:
    """`SamagraRegistry` over a fixed list of members. `down`: every look-up is unavailable
    (to show the "try later" answer)."""

    def __init__(self, members: list[Member] | None = None) -> None:
        self.members = {member.member_id: member
                        for member in (demo_members() if members is None else members)}
        self.down = False
        self.lookups: list[str] = []

    async def member(self, member_id: str) -> Member | None:
        self._answering(member_id)
        return self.members.get(member_id)

    async def family(self, family_id: str) -> list[Member] | None:
        self._answering(family_id)
        found = [member for member in self.members.values() if member.family_id == family_id]
        return found or None

    async def close(self) -> None:
        return None

    def _answering(self, samagra_id: str) -> None:
        self.lookups.append(samagra_id)
        if self.down:
            raise RegistryUnavailable("the simulator is down")
