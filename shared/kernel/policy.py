"""A province's recognition policy, loaded from `policies/<code>-<name>.toml` and validated at start.

Every rule that is a provincial choice lives in the policy file, never in code: the code reads the policy
of the province it serves. Each file cites the notice and article each value comes from.
"""

from __future__ import annotations

import tomllib
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.kernel.regions import city_of, province_region

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"


class OrgKind(StrEnum):
    """The kinds of evaluation organization whose authority limits differ [L16]."""

    ENTERPRISE = "enterprise"  # 用人单位 (type letter Y), only within its filed self-evaluation scope
    INDUSTRY_ORGANIZATION = "industry_organization"  # 行业组织 / 行业协会
    TECHNICAL_SCHOOL = "technical_school"  # 技工学校, 中等职业学校
    SENIOR_TECHNICAL_SCHOOL = "senior_technical_school"  # 高级技工学校, 技师学院
    HIGHER_VOCATIONAL = "higher_vocational"  # 高等职业院校
    UNDERGRADUATE = "undergraduate"  # 本科院校
    TRAINING_INSTITUTION = "training_institution"  # 民办职业培训机构

    @property
    def type_letter(self) -> str:
        """Position 1 of the filing code: Y employer, S social training evaluation organization."""
        return "Y" if self is OrgKind.ENTERPRISE else "S"


class AdminLevel(StrEnum):
    """Administrative level of an industry organization [L16(一)]."""

    COUNTY = "county"
    CITY = "city"
    PROVINCE = "province"
    NATIONAL = "national"


class EvaluationScope(StrEnum):
    """Where an organization evaluates: the whole country, the province (region), or one city [G二(一)]."""

    NATIONAL = "national"
    PROVINCE = "province"
    CITY = "city"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LadderLevel(_Strict):
    """A rung of the ladder. `rank` orders the rungs: 1 一级/高级技师 ... 5 五级/初级工 are the national
    digits of the certificate number; 0 and below rank above 一级 (特级技师 0, 首席技师 -1) and 6 below
    五级 (学徒工) in an extended ladder."""

    rank: int = Field(ge=-1, le=6)
    title: str


class Ladder(_Strict):
    levels: list[LadderLevel] = Field(min_length=1)
    applies_to: list[OrgKind] | None = Field(default=None, description="None: every kind not named elsewhere")
    source: str

    def ranks(self) -> set[int]:
        return {level.rank for level in self.levels}

    def title(self, rank: int) -> str:
        return next(level.title for level in self.levels if level.rank == rank)


class AuthorityLimit(_Strict):
    """The highest level (lowest rank) an organization of this kind and administrative level may recognise."""

    kind: OrgKind
    admin_level: AdminLevel | None = None
    cities: list[str] | None = Field(default=None, description="only organizations of these cities")
    highest_rank: int = Field(ge=-1, le=6)
    lowest_rank: int = Field(default=5, ge=-1, le=6)
    main_business_only: bool = False
    source: str


class ScopeThreshold(_Strict):
    """Volume and experience an applicant needs for an evaluation scope [G二(一)5]."""

    scope: EvaluationScope
    min_years: int = Field(ge=0)
    min_total_person_times: int = Field(ge=0)
    min_per_occupation_person_times: int = Field(ge=0)
    highest_rank: int | None = Field(default=None, description="e.g. city scope: level 3 and below")
    source: str


class LicenceFigure(_Strict):
    """L6(二)'s second alternative: an organization holding a skill-testing licence (职业技能鉴定资质) whose
    testing in the occupations applied for is 一般不少于 (normally at least) this many person-times. 'Normally':
    the figure is the assessor's warning, which an assessor may override with reasons, never a hard floor;
    and the first alternative (influence and experience judged by the experts) needs no figure at all."""

    person_times: int = Field(ge=1)
    source: str


class Thresholds(_Strict):
    licence_person_times: LicenceFigure | None = Field(
        default=None, description="None: the province's notice states no figure; the experts judge [L6(二)]"
    )
    by_scope: list[ScopeThreshold] = Field(default_factory=list)


class TrainingInstitutionCaps(_Strict):
    max_occupations: int
    highest_rank: int
    max_per_occupation_per_city: int
    max_per_occupation_per_county: int
    source: str


class Materials(_Strict):
    min_full_time_staff: int
    min_lease_years: int
    min_examiners: int = Field(ge=1, description="考评人员 an application must name at least [L6(三)]")
    min_quality_supervisors: int = Field(ge=1, description="质量督导人员 an application must name at least")
    source: str


class Affiliation(StrEnum):
    """Whose the organization is (隶属关系): decides who selects it [L5]."""

    CENTRAL = "central"  # 中央单位、央企、国家部门行业驻省分支机构
    PROVINCE = "province"  # 省级行业组织、省属院校、省属企业
    LOCAL = "local"  # 市县所属或社会举办: selected by the city of its registered address


class Selection(_Strict):
    """Who selects an applicant, and how a city hands its selection to the province [L5, L8, L9; G三(一)]."""

    province_affiliations: list[Affiliation] = Field(description="organizations of these the province selects")
    province_industry_levels: list[AdminLevel] = Field(
        default_factory=list, description="industry organizations of these administrative levels the province selects"
    )
    province_scopes: list[EvaluationScope] = Field(
        default_factory=list, description="applications to evaluate in these scopes go to the province (Guangxi)"
    )
    counties_pre_review: bool = Field(
        default=False, description="a county official may accept and pre-review for its city (Zhejiang Z五(一))"
    )
    national_platform: str | None = Field(
        default=None, description="where national-scope applications go instead (Guangxi: djsb.osta.org.cn)"
    )
    city_report_working_days: int = Field(
        ge=1, description="the city reports its selection (附件3) within this many working days of the publicity"
    )
    source: str


class ChangeKind(StrEnum):
    """What a filed organization may ask to change [L11; S附件3]."""

    SCOPE = "scope"  # occupations, work types and levels
    SITES = "sites"  # 认定场所
    DETAILS = "details"  # name, short name, contact, phone, e-mail, website, address


class ChangeProcedure(_Strict):
    """Which steps a change of this kind goes through before the province approves it; without acceptance,
    assessment and publicity the province approves it directly."""

    kind: ChangeKind
    acceptance: bool
    expert_assessment: bool
    publicity: bool
    source: str


class OccupationRules(_Strict):
    """Which occupations of the 职业分类大典 count as skill-type here [L12; G一(二)]; the access-type occupations
    of the 国家职业资格目录 are refused everywhere (the catalogue marks them)."""

    skill_categories: list[str] = Field(
        min_length=1, description="大类 digits whose occupations count as skill-type, as ['4', '5', '6']"
    )
    source: str


class Periods(_Strict):
    """In working days of the official calendar (with make-up days)."""

    acceptance_working_days: int
    publicity_min_working_days: int
    report_after_publicity_working_days: int
    batch_announcement_working_days: int = 0
    source: str


class Filing(_Strict):
    validity_years: int
    renewal_window_days: int = Field(description="renewal may be applied for this many days before expiry")
    source: str


class Results(_Strict):
    """How recognition results are judged: every component scored out of 100, each passed at `pass_mark`."""

    pass_mark: float = Field(default=60, ge=0, le=100)
    defence_from_rank: int = Field(default=2, description="levels this rank and above also need the defence")
    source: str = "L17-L18; national occupational standards: 百分制, 60分及以上为合格; 技师、高级技师 另需答辩"


class InspectionItem(_Strict):
    """One entry of the item list (抽查事项清单): what an inspection checks, and the article it comes from."""

    code: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    title: str
    article: str


class Monitoring(_Strict):
    """Thresholds of online monitoring (在线监测、智能研判) [L27, Z四(五)]. Rates are fractions of 1."""

    pass_rate_excess: float = Field(gt=0, lt=1, description="alert when a batch passes this much above the norm")
    pass_rate_min_sat: int = Field(ge=1, description="smaller batches raise no pass-rate alert")
    norm_min_batches: int = Field(ge=1, description="published batches of the occupation and level for a norm")
    default_norm: float = Field(gt=0, le=1, description="the norm until that many batches are known")
    identical_scores_min: int = Field(ge=2, description="alert when this many candidates share one score vector")
    identical_scores_share: float = Field(
        gt=0, le=1, description="and at least this share of those who sat (vectors of two or more components)"
    )
    pile_band_points: float = Field(gt=0, le=20, description="width of the bands just above and below the pass mark")
    pile_ratio: float = Field(gt=1, description="alert when the band above holds this many times the band below")
    pile_min_sat: int = Field(ge=1)
    source: str


class Cases(_Strict):
    """Cases and measures [L28, G四(一), Z五(五)]: how long a rectification may take, in working days."""

    rectification_working_days: int = Field(ge=1, le=250, description="the default deadline of a rectification")
    max_rectification_working_days: int = Field(ge=1, le=500, description="an official may set up to this")
    source: str


class Credit(_Strict):
    """The credit record (信用档案, 诚信不良档案) [L6(一), G二(一)1, G四(一), Z五(五)]: how long an entry lasts."""

    serious_years: int = Field(ge=1, le=10, description="a serious entry (失信) lasts this many years")
    general_years: int = Field(ge=1, le=10, description="a general entry lasts this many years")
    source: str


class Complaints(_Strict):
    """Complaints and reports (投诉举报) [G四(一), L28]: the deadlines, in working days from receipt."""

    acknowledge_working_days: int = Field(ge=1, le=30)
    handle_working_days: int = Field(ge=1, le=120)
    source: str


class RatingIndicator(_Strict):
    code: Literal[
        "finding_minor",
        "finding_major",
        "finding_serious",
        "complaint_upheld",
        "objection_upheld",
        "report_late",
        "correction_after_approval",
        "rectification_overdue",
        "suspension",
        "pass_rate_alert",
    ]
    title: str
    points: int = Field(ge=0, le=100, description="deducted from 100 for each occurrence in the year")


class StarBand(_Strict):
    stars: int = Field(ge=1, le=5)
    min_score: int = Field(ge=0, le=100, description="the lowest score that earns these stars")
    draw_weight: int = Field(ge=1, le=100, description="tickets of the organization in the next inspection draws")


class Rating(_Strict):
    """Star rating (星级评定) [Z五(五)]: score = max(0, 100 - sum of points x occurrences in the year); the
    stars are those of the highest band the score reaches; the band's draw weight is the risk weight."""

    indicators: list[RatingIndicator] = Field(min_length=1)
    bands: list[StarBand] = Field(min_length=1)
    unrated_draw_weight: int = Field(default=1, ge=1, le=100, description="an organization not rated yet")
    source: str

    @model_validator(mode="after")
    def _bands_cover_zero(self) -> Rating:
        if not any(band.min_score == 0 for band in self.bands):
            raise ValueError("one star band must start at score 0, so every score has stars")
        if len({band.stars for band in self.bands}) != len(self.bands):
            raise ValueError("each number of stars has one band")
        return self

    def band(self, score: int) -> StarBand:
        return max((b for b in self.bands if b.min_score <= score), key=lambda b: b.min_score)

    def draw_weight(self, stars: int | None) -> int:
        band = next((b for b in self.bands if b.stars == stars), None)
        return band.draw_weight if band else self.unrated_draw_weight


class Supervision(_Strict):
    """双随机、一公开 [L27, Z四(五), G四(一)] and the expert pool [Z四(四), Z五(五)]."""

    items: list[InspectionItem] = Field(min_length=1)
    sample_percent: int = Field(ge=1, le=100, description="default share of the population a plan draws")
    inspectors_per_target: int = Field(ge=1, le=10)
    max_targets_per_inspector: int = Field(ge=1, le=50, description="per plan")
    rotation_window_days: int = Field(ge=0, description="an expert who inspected an organization waits this long")
    partner_provinces: list[str] = Field(default_factory=list, description="whose shared experts may be drawn")
    free_text_experts_until: date | None = Field(
        default=None,
        description="transition: until this day the registry and recognition still accept experts typed in "
        "rather than drawn, marked as such",
    )
    monitoring: Monitoring
    cases: Cases
    credit: Credit
    complaints: Complaints
    rating: Rating
    source: str

    def item(self, code: str) -> InspectionItem | None:
        return next((item for item in self.items if item.code == code), None)


class Policy(_Strict):
    code: str = Field(pattern=r"^\d{2}$")
    name: str
    department: str = Field(
        description="the province's human resources and social security department: "
        "the issuer named on electronic certificates"
    )
    sources: list[str] = Field(min_length=1)
    ladders: list[Ladder] = Field(min_length=1)
    authority: list[AuthorityLimit] = Field(min_length=1)
    thresholds: Thresholds
    training_institution: TrainingInstitutionCaps
    materials: Materials
    periods: Periods
    filing: Filing
    results: Results = Field(default_factory=Results)
    supervision: Supervision
    selection: Selection
    changes: list[ChangeProcedure] = Field(min_length=1)
    occupations: OccupationRules

    @model_validator(mode="after")
    def _every_change_kind_has_its_procedure(self) -> Policy:
        kinds = [procedure.kind for procedure in self.changes]
        if sorted(kinds) != sorted(ChangeKind):
            raise ValueError(f"changes must name each of {', '.join(ChangeKind)} once")
        return self

    @model_validator(mode="after")
    def _one_default_ladder(self) -> Policy:
        defaults = [ladder for ladder in self.ladders if ladder.applies_to is None]
        if len(defaults) != 1:
            raise ValueError("exactly one ladder must apply to every kind not named elsewhere (no applies_to)")
        return self

    def ladder_for(self, kind: OrgKind) -> Ladder:
        for ladder in self.ladders:
            if ladder.applies_to and kind in ladder.applies_to:
                return ladder
        return next(ladder for ladder in self.ladders if ladder.applies_to is None)

    def authority_for(self, kind: OrgKind, admin_level: AdminLevel | None, city: str | None) -> AuthorityLimit | None:
        """The most specific limit: one naming the city first, then one for the admin level, then the kind."""
        candidates = [a for a in self.authority if a.kind is kind and a.admin_level in (admin_level, None)]
        candidates = [a for a in candidates if a.cities is None or (city is not None and city in a.cities)]
        candidates.sort(key=lambda a: (a.cities is None, a.admin_level is None))
        return candidates[0] if candidates else None

    def threshold_for(self, scope: EvaluationScope) -> ScopeThreshold | None:
        return next((t for t in self.thresholds.by_scope if t.scope == scope), None)

    def change_procedure(self, kind: ChangeKind) -> ChangeProcedure:
        return next(procedure for procedure in self.changes if procedure.kind is kind)

    def selecting_authority(
        self,
        *,
        kind: OrgKind,
        affiliation: Affiliation,
        admin_level: AdminLevel | None,
        evaluation_scope: EvaluationScope,
        region: str,
    ) -> str:
        """The GB/T 2260 code of the division that selects an applicant [L5]: the province for its own and the
        central bodies (and, in Guangxi, for every province-scope application), else the city of the
        registered address `region`."""
        selection = self.selection
        if (
            affiliation in selection.province_affiliations
            or (kind is OrgKind.INDUSTRY_ORGANIZATION and admin_level in selection.province_industry_levels)
            or evaluation_scope in selection.province_scopes
        ):
            return province_region(self.code)
        return city_of(region)


def load_policy(path: Path) -> Policy:
    with path.open("rb") as file:
        return Policy.model_validate(tomllib.load(file))


def policy_for(province: str, directory: Path = POLICIES_DIR) -> Policy:
    matches = sorted(directory.glob(f"{province}-*.toml"))
    if len(matches) != 1:
        raise FileNotFoundError(f"expected one policy file {directory}/{province}-<name>.toml, found {len(matches)}")
    policy = load_policy(matches[0])
    if policy.code != province:
        raise ValueError(f"{matches[0]} declares province {policy.code}, not {province}")
    return policy
