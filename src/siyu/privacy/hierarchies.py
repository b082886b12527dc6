"""Generalisation hierarchies (泛化层级) for the quasi-identifiers of a k-anonymous export.

A hierarchy turns a value into ever less specific labels, level by level, up to a top level that
says nothing (``*``). Level 0 is the value itself. Every level must be a function of the one below
it (a tree): two values that share a label at level *l* share it at every higher level too. That is
what makes full-domain generalisation monotone (Samarati 2001, §4) — a more general node never needs
to suppress more rows — which ``siyu.privacy.anonymity`` relies on when it says what is reachable.

=================  ===========================================================================  ===========
built-in           levels (0 → top)                                                             spec
=================  ===========================================================================  ===========
age                age → 5-year band ``25-29`` → 10-year ``20-29`` → 20-year ``20-39`` → ``*``  ``"age"``
region             district/city text → province ``浙江省`` → region ``华东`` → ``*``             ``"region"``
gender             value → ``*``                                                                ``"gender"``
date               date/timestamp → month ``2024-03`` → quarter ``2024-Q1`` → year → ``*``     ``"date"``
numeric ranges     number → bands of each width (nested) → ``*``                                 ``NumericBands``
suppress           value → ``*``                                                                ``"suppress"``
=================  ===========================================================================  ===========

A custom hierarchy is a dict ``{value: [level-1 label, level-2 label, …]}`` (``MappingHierarchy``;
a last level with one label, such as ``Person``, is the top, otherwise ``*`` is added) or a list of
functions, one per level (``FunctionHierarchy``; ``*`` is added). Both are checked: equal depths,
string labels, one parent per label, every value of the data covered. Nulls stay null below the top
(a null is a value an attacker can see too).

Hierarchies work on the *distinct* values of a column, so a million rows with a hundred ages cost a
hundred labels, not a million.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siyu.core.errors import ValidationFailed

#: The label of the top level: the value is not said at all.
ANY = "*"

class BadHierarchy(ValidationFailed):
    """A declared hierarchy is malformed or does not fit the column's values."""

    code = "bad_hierarchy"


class Hierarchy(ABC):
    """Levels of generalisation for one quasi-identifier; level 0 is the value, the last level is ``*``."""

    def __init__(self, name: str, level_names: Sequence[str]) -> None:
        if len(level_names) < 2:
            raise BadHierarchy(f"hierarchy {name!r} needs at least the value and '*' levels", input_name=name)
        self.name = name
        self.level_names = tuple(level_names)
        #: What the top level writes: ``*``, or a declared tree's own single root (``Person``).
        self.top_label = ANY

    @property
    def height(self) -> int:
        """The top level's number (where every value is ``*``)."""
        return len(self.level_names) - 1

    def generalise(self, values: pa.Array, level: int) -> pa.Array:
        """Labels of ``values`` (distinct values of a column) at ``level`` ≥ 1, as a string array."""
        if not 1 <= level <= self.height:
            raise BadHierarchy(f"level {level} outside 1..{self.height}", input_name=self.name)
        if level == self.height:
            return pa.array([self.top_label] * len(values), pa.string())
        labels = self._generalise(values, level)
        if len(labels) != len(values):
            raise BadHierarchy(f"level {level} gave {len(labels)} labels for {len(values)} values",
                               input_name=self.name)
        return labels.cast(pa.string())

    @abstractmethod
    def _generalise(self, values: pa.Array, level: int) -> pa.Array:
        """Labels at a level strictly between 0 and the top; nulls stay null."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, levels={list(self.level_names)})"


#: What a user may declare per quasi-identifier: a hierarchy, a built-in's name, a mapping or level functions.
HierarchySpec: TypeAlias = Hierarchy | str | Mapping[Any, Sequence[str]] | Sequence[Callable[[Any], Any]]


def _labels_from_codes(codes: np.ndarray, valid: np.ndarray, label: Callable[[int], str]) -> pa.Array:
    """Format each distinct integer code once (bands, months) and spread the labels back; invalid → null."""
    distinct, inverse = np.unique(codes[valid], return_inverse=True)
    labels = pa.array([label(int(c)) for c in distinct], pa.string())
    out_index = np.full(len(codes), -1, dtype=np.int64)
    out_index[valid] = inverse
    return labels.take(pa.array(out_index, mask=~valid))


class NumericBands(Hierarchy):
    """Numbers → nested bands of increasing width → ``*``; ``NumericBands((5, 10, 20))`` for ages.

    Integers get inclusive labels (``25-29``), other numbers half-open ones (``[2.5, 5)``). Each width
    must divide the next so that every band sits inside one band of the next level.
    """

    def __init__(self, widths: Sequence[float], *, origin: float = 0, name: str = "numeric",
                 unit: str = "") -> None:
        widths = tuple(widths)
        if not widths or any(not isinstance(w, int | float) or isinstance(w, bool) or w <= 0 for w in widths):
            raise BadHierarchy(f"band widths must be positive numbers, got {widths!r}", input_name=name)
        for narrow, wide in itertools.pairwise(widths):
            ratio = wide / narrow
            if ratio <= 1 or not math.isclose(ratio, round(ratio)):
                raise BadHierarchy(f"band width {wide} is not a multiple of {narrow}: bands must nest",
                                   input_name=name)
        suffix = f"-{unit}" if unit else ""
        super().__init__(name, (name, *(f"{w:g}{suffix} band" for w in widths), ANY))
        self.widths, self.origin = widths, origin

    def _generalise(self, values: pa.Array, level: int) -> pa.Array:
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
                or pa.types.is_decimal(values.type)):
            raise BadHierarchy(f"numeric bands need numbers, column has {values.type}", input_name=self.name)
        width, origin = self.widths[level - 1], self.origin
        numbers = values.cast(pa.float64()).fill_null(0).to_numpy(zero_copy_only=False)
        valid = ~values.is_null().to_numpy(zero_copy_only=False) & np.isfinite(numbers)
        bands = np.zeros(len(numbers), dtype=np.int64)
        bands[valid] = np.floor((numbers[valid] - origin) / width).astype(np.int64)
        whole = pa.types.is_integer(values.type) and float(width).is_integer() and float(origin).is_integer()

        def label(band: int) -> str:
            low = origin + band * width
            if whole:
                return f"{int(low)}-{int(low + width - 1)}"
            return f"[{low:g}, {low + width:g})"

        return _labels_from_codes(bands, valid, label)


def age_bands() -> NumericBands:
    """Age → 5-year band → 10-year band → 20-year band → ``*`` (年龄段)."""
    return NumericBands((5, 10, 20), name="age", unit="year")


class DateHierarchy(Hierarchy):
    """Date or timestamp → month ``2024-03`` → quarter ``2024-Q1`` → year ``2024`` → ``*``.

    Timestamps with a time zone are read in that zone (pyarrow's calendar functions do so).
    """

    def __init__(self, name: str = "date") -> None:
        super().__init__(name, (name, "month", "quarter", "year", ANY))

    def _generalise(self, values: pa.Array, level: int) -> pa.Array:
        if not pa.types.is_temporal(values.type) or pa.types.is_time(values.type):
            raise BadHierarchy(f"date levels need dates or timestamps, column has {values.type}", input_name=self.name)
        valid = ~values.is_null().to_numpy(zero_copy_only=False)
        year = pc.year(values).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        if level == 1:
            month = pc.month(values).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            return _labels_from_codes(year * 100 + month, valid, lambda c: f"{c // 100:04d}-{c % 100:02d}")
        if level == 2:
            quarter = pc.quarter(values).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            return _labels_from_codes(year * 10 + quarter, valid, lambda c: f"{c // 10:04d}-Q{c % 10}")
        return _labels_from_codes(year, valid, lambda c: f"{c:04d}")


class SuppressOnly(Hierarchy):
    """Value → ``*``: the only choice is to say the value or not (gender, channel, any category)."""

    def __init__(self, name: str = "suppress") -> None:
        super().__init__(name, (name, ANY))

    def _generalise(self, values: pa.Array, level: int) -> pa.Array:  # pragma: no cover - height 1 has no middle
        raise AssertionError("a suppress-only hierarchy has no middle level")


class FunctionHierarchy(Hierarchy):
    """Levels given as functions ``value → label`` applied to each distinct non-null value.

    ``FunctionHierarchy([lambda zip: zip[:4] + "*", lambda zip: zip[:3] + "**"], name="zip")``.
    ``*`` is added on top. Labels must be strings; the tree rule is checked on the data when used.
    """

    def __init__(self, levels: Sequence[Callable[[Any], Any]], *, name: str = "custom",
                 level_names: Sequence[str] | None = None) -> None:
        levels = tuple(levels)
        if not levels or not all(callable(f) for f in levels):
            raise BadHierarchy("a function hierarchy needs one callable per level", input_name=name)
        default_names = tuple(f"level {i}" for i in range(1, len(levels) + 1))
        names = tuple(level_names) if level_names is not None else default_names
        if len(names) != len(levels):
            raise BadHierarchy(f"{len(names)} level names for {len(levels)} levels", input_name=name)
        super().__init__(name, (name, *names, ANY))
        self.functions = levels

    def _label(self, value: Any, level: int) -> str:
        try:
            label = self.functions[level - 1](value)
        except Exception as exc:
            raise BadHierarchy(f"level {level} failed on {value!r}: {exc}", input_name=self.name) from exc
        if not isinstance(label, str) or not label:
            raise BadHierarchy(f"level {level} gave {label!r} for {value!r}; labels must be non-empty strings",
                               input_name=self.name)
        return label

    def _generalise(self, values: pa.Array, level: int) -> pa.Array:
        return pa.array([None if v is None else self._label(v, level) for v in values.to_pylist()], pa.string())


class MappingHierarchy(Hierarchy):
    """A declared tree: ``{value: [level-1 label, level-2 label, …]}``, e.g. from a YAML file.

    Every value lists the same number of levels, and a label may have only one parent. When the last
    level has a single label (``*``, or a root such as ``Person``) it is the top; otherwise ``*`` is
    added above it. A value in the data that the mapping does not list is an error naming it (never
    silently ``*``). ``level_names`` name the levels between the value and the top.
    """

    def __init__(self, mapping: Mapping[Any, Sequence[str]], *, name: str = "custom",
                 level_names: Sequence[str] | None = None) -> None:
        if not isinstance(mapping, Mapping) or not mapping:
            raise BadHierarchy("a mapping hierarchy needs a non-empty dict of value → labels", input_name=name)
        paths: dict[Any, tuple[str, ...]] = {}
        for value, labels in mapping.items():
            if isinstance(labels, str) or not isinstance(labels, Sequence):
                raise BadHierarchy(f"{value!r} maps to {labels!r}; expected a list of labels, one per level",
                                   input_name=name)
            if not labels or not all(isinstance(x, str) and x for x in labels):
                raise BadHierarchy(f"{value!r}: labels must be non-empty strings, got {list(labels)!r}",
                                   input_name=name)
            paths[value] = tuple(labels)
        depths = {len(p) for p in paths.values()}
        if len(depths) != 1:
            raise BadHierarchy(f"every value must list the same number of levels, found {sorted(depths)}",
                               input_name=name)
        depth = depths.pop()
        _check_tree(paths, depth, name)
        roots = {p[-1] for p in paths.values()}
        declared_top = len(roots) == 1  # the last level is the top (``*`` or a root such as ``Person``)
        root = next(iter(roots)) if declared_top else ANY
        if declared_top:
            depth -= 1
        middle = tuple(level_names) if level_names is not None else tuple(f"level {i}" for i in range(1, depth + 1))
        if len(middle) != depth:
            raise BadHierarchy(f"{len(middle)} level names for {depth} levels below the top", input_name=name)
        super().__init__(name, (name, *middle, root))
        self.paths = {value: path[:depth] for value, path in paths.items()}
        self.top_label = root

    def generalise(self, values: pa.Array, level: int) -> pa.Array:
        """As :meth:`Hierarchy.generalise`, after checking every value is in the mapping."""
        missing = sorted({repr(v) for v in values.to_pylist() if v is not None and v not in self.paths})
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise BadHierarchy(f"values not in the hierarchy: {shown}", input_name=self.name)
        return super().generalise(values, level)

    def _generalise(self, values: pa.Array, level: int) -> pa.Array:
        return pa.array([None if v is None else self.paths[v][level - 1] for v in values.to_pylist()], pa.string())


def _check_tree(paths: Mapping[Any, tuple[str, ...]], depth: int, name: str) -> None:
    """Each label must have exactly one parent, else the levels do not nest."""
    for level in range(depth - 1):
        parent: dict[str, tuple[str, Any]] = {}
        for value, path in paths.items():
            seen = parent.setdefault(path[level], (path[level + 1], value))
            if seen[0] != path[level + 1]:
                raise BadHierarchy(
                    f"label {path[level]!r} at level {level + 1} has two parents at level {level + 2}: "
                    f"{seen[0]!r} (via {seen[1]!r}) and {path[level + 1]!r} (via {value!r})", input_name=name)


#: The 34 provincial-level divisions (省级行政区): short name → (official name, geographic region 地理分区).
#: Regions follow the usual seven-way split (华北 东北 华东 华中 华南 西南 西北); 台湾 is counted in 华东 and
#: 香港/澳门 in 华南, the common convention in Chinese statistics and e-commerce reports.
PROVINCES: dict[str, tuple[str, str]] = {
    "北京": ("北京市", "华北"), "天津": ("天津市", "华北"), "河北": ("河北省", "华北"), "山西": ("山西省", "华北"),
    "内蒙古": ("内蒙古自治区", "华北"),
    "辽宁": ("辽宁省", "东北"), "吉林": ("吉林省", "东北"), "黑龙江": ("黑龙江省", "东北"),
    "上海": ("上海市", "华东"), "江苏": ("江苏省", "华东"), "浙江": ("浙江省", "华东"), "安徽": ("安徽省", "华东"),
    "福建": ("福建省", "华东"), "江西": ("江西省", "华东"), "山东": ("山东省", "华东"), "台湾": ("台湾省", "华东"),
    "河南": ("河南省", "华中"), "湖北": ("湖北省", "华中"), "湖南": ("湖南省", "华中"),
    "广东": ("广东省", "华南"), "广西": ("广西壮族自治区", "华南"), "海南": ("海南省", "华南"),
    "香港": ("香港特别行政区", "华南"), "澳门": ("澳门特别行政区", "华南"),
    "重庆": ("重庆市", "西南"), "四川": ("四川省", "西南"), "贵州": ("贵州省", "西南"), "云南": ("云南省", "西南"),
    "西藏": ("西藏自治区", "西南"),
    "陕西": ("陕西省", "西北"), "甘肃": ("甘肃省", "西北"), "青海": ("青海省", "西北"),
    "宁夏": ("宁夏回族自治区", "西北"), "新疆": ("新疆维吾尔自治区", "西北"),
}

#: Prefecture-level cities and prefectures (地级行政区) by province, for text that starts with the city
#: (``杭州市西湖区``). Names that are also a district elsewhere (朝阳: 辽宁's city, 北京's district) are left
#: out: such text is unplaceable rather than placed wrongly.
_CITIES_BY_PROVINCE = {
    "河北": "石家庄 唐山 秦皇岛 邯郸 邢台 保定 张家口 承德 沧州 廊坊 衡水",
    "山西": "太原 大同 阳泉 长治 晋城 朔州 晋中 运城 忻州 临汾 吕梁",
    "内蒙古": "呼和浩特 包头 乌海 赤峰 通辽 鄂尔多斯 呼伦贝尔 巴彦淖尔 乌兰察布 兴安 锡林郭勒 阿拉善",
    "辽宁": "沈阳 大连 鞍山 抚顺 本溪 丹东 锦州 营口 阜新 辽阳 盘锦 铁岭 葫芦岛",
    "吉林": "长春 四平 辽源 通化 白山 松原 白城 延边",
    "黑龙江": "哈尔滨 齐齐哈尔 鸡西 鹤岗 双鸭山 大庆 伊春 佳木斯 七台河 牡丹江 黑河 绥化 大兴安岭",
    "江苏": "南京 无锡 徐州 常州 苏州 南通 连云港 淮安 盐城 扬州 镇江 泰州 宿迁",
    "浙江": "杭州 宁波 温州 嘉兴 湖州 绍兴 金华 衢州 舟山 台州 丽水",
    "安徽": "合肥 芜湖 蚌埠 淮南 马鞍山 淮北 铜陵 安庆 黄山 滁州 阜阳 宿州 六安 亳州 池州 宣城",
    "福建": "福州 厦门 莆田 三明 泉州 漳州 南平 龙岩 宁德",
    "江西": "南昌 景德镇 萍乡 九江 新余 鹰潭 赣州 吉安 宜春 抚州 上饶",
    "山东": "济南 青岛 淄博 枣庄 东营 烟台 潍坊 济宁 泰安 威海 日照 临沂 德州 聊城 滨州 菏泽",
    "河南": "郑州 开封 洛阳 平顶山 安阳 鹤壁 新乡 焦作 濮阳 许昌 漯河 三门峡 南阳 商丘 信阳 周口 驻马店 济源",
    "湖北": "武汉 黄石 十堰 宜昌 襄阳 鄂州 荆门 孝感 荆州 黄冈 咸宁 随州 恩施 仙桃 潜江 天门",
    "湖南": "长沙 株洲 湘潭 衡阳 邵阳 岳阳 常德 张家界 益阳 郴州 永州 怀化 娄底 湘西",
    "广东": "广州 韶关 深圳 珠海 汕头 佛山 江门 湛江 茂名 肇庆 惠州 梅州 汕尾 河源 阳江 清远 东莞 中山 潮州 揭阳 云浮",
    "广西": "南宁 柳州 桂林 梧州 北海 防城港 钦州 贵港 玉林 百色 贺州 河池 来宾 崇左",
    "海南": "海口 三亚 三沙 儋州",
    "四川": "成都 自贡 攀枝花 泸州 德阳 绵阳 广元 遂宁 内江 乐山 南充 眉山 宜宾 广安 达州 雅安 巴中 资阳 "
            "阿坝 甘孜 凉山",
    "贵州": "贵阳 六盘水 遵义 安顺 毕节 铜仁 黔西南 黔东南 黔南",
    "云南": "昆明 曲靖 玉溪 保山 昭通 丽江 普洱 临沧 楚雄 红河 文山 西双版纳 大理 德宏 怒江 迪庆",
    "西藏": "拉萨 日喀则 昌都 林芝 山南 那曲 阿里",
    "陕西": "西安 铜川 宝鸡 咸阳 渭南 延安 汉中 榆林 安康 商洛",
    "甘肃": "兰州 嘉峪关 金昌 白银 天水 武威 张掖 平凉 酒泉 庆阳 定西 陇南 临夏 甘南",
    "青海": "西宁 海东 海北 黄南 果洛 玉树 海西",
    "宁夏": "银川 石嘴山 吴忠 固原 中卫",
    "新疆": "乌鲁木齐 克拉玛依 吐鲁番 哈密 昌吉 博尔塔拉 巴音郭楞 阿克苏 克孜勒苏 喀什 和田 伊犁 塔城 阿勒泰 石河子",
    "台湾": "台北 新北 桃园 台中 台南 高雄 基隆 新竹 嘉义",
}

#: Every prefix that places text in a province: the province short names, then the city names.
PLACE_PREFIXES: dict[str, str] = {
    **{city: province for province, cities in _CITIES_BY_PROVINCE.items() for city in cities.split()},
    **{province: province for province in PROVINCES},
}
_PREFIX_LENGTHS = sorted({len(p) for p in PLACE_PREFIXES}, reverse=True)


def province_and_region(text: str) -> tuple[str, str] | None:
    """``(official province name, region)`` for Chinese place text, or ``None`` when it cannot be placed.

    >>> province_and_region("上海市浦东新区"), province_and_region("杭州市西湖区")
    (('上海市', '华东'), ('浙江省', '华东'))
    """
    place = text.strip().removeprefix("中国").strip()
    for length in _PREFIX_LENGTHS:  # longest first: 黑龙江 before any two-character name
        province = PLACE_PREFIXES.get(place[:length])
        if province is not None:
            return PROVINCES[province]
    return None


class RegionHierarchy(Hierarchy):
    """Chinese place text → province (省级, ``浙江省``) → region (地理分区, ``华东``) → ``*``.

    Accepts ``上海市浦东新区``, ``浙江省杭州市``, ``杭州``, ``广西`` … by prefix (:func:`province_and_region`).
    Text it cannot place becomes ``*`` at every level above 0 — safe for anonymity, but it costs
    information, so ``strict=True`` raises instead and names the values.
    """

    def __init__(self, name: str = "region", *, strict: bool = False) -> None:
        super().__init__(name, (name, "province", "region", ANY))
        self.strict = strict

    def _generalise(self, values: pa.Array, level: int) -> pa.Array:
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            raise BadHierarchy(f"region levels need text, column has {values.type}", input_name=self.name)
        labels: list[str | None] = []
        unplaced: list[str] = []
        for text in values.to_pylist():
            if text is None:
                labels.append(None)
                continue
            placed = province_and_region(text)
            if placed is None:
                unplaced.append(text)
                labels.append(ANY)
            else:
                labels.append(placed[level - 1])
        if unplaced and self.strict:
            raise BadHierarchy(f"cannot place {len(unplaced)} value(s) in a province, e.g. {unplaced[:5]!r}",
                               input_name=self.name)
        return pa.array(labels, pa.string())


#: Built-in hierarchies by the name a declaration may use.
BUILT_IN: dict[str, Callable[[str], Hierarchy]] = {
    "age": lambda column: NumericBands((5, 10, 20), name=column, unit="year"),
    "region": RegionHierarchy,
    "gender": SuppressOnly,
    "date": DateHierarchy,
    "suppress": SuppressOnly,
}

_AGE_NAMES = frozenset({"age", "年龄"})
_GENDER_NAMES = frozenset({"gender", "sex", "性别"})
_REGION_NAMES = frozenset({"region", "province", "city", "district", "area", "location", "省份", "城市", "地区"})


def default_hierarchy(column: str, data_type: pa.DataType) -> Hierarchy:
    """The built-in a quasi-identifier gets when none is declared, chosen by its name, then its type.

    ``age``/``*_age`` → age bands; ``gender``/``sex`` → suppress; ``region``/``province``/``city``/
    ``district``/``*_city`` … → region; dates and timestamps → date levels; anything else → suppress.
    """
    lower = column.strip().lower()
    last = lower.rsplit("_", 1)[-1]
    numeric = pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type)
    if (lower in _AGE_NAMES or last == "age") and numeric:
        return BUILT_IN["age"](column)
    if lower in _GENDER_NAMES:
        return SuppressOnly(column)
    if (lower in _REGION_NAMES or last in _REGION_NAMES) and (
            pa.types.is_string(data_type) or pa.types.is_large_string(data_type)):
        return RegionHierarchy(column)
    if pa.types.is_temporal(data_type) and not pa.types.is_time(data_type):
        return DateHierarchy(column)
    return SuppressOnly(column)


def resolve_hierarchy(spec: Any, column: str, data_type: pa.DataType) -> Hierarchy:
    """Turn a declaration into a :class:`Hierarchy` (``None`` → :func:`default_hierarchy`).

    A declaration is a :class:`Hierarchy`, a built-in's name (``"age"``, ``"region"``, ``"gender"``,
    ``"date"``, ``"suppress"``), a dict ``{value: [labels…]}`` or a list of functions, one per level.
    """
    if spec is None:
        return default_hierarchy(column, data_type)
    if isinstance(spec, Hierarchy):
        return spec
    if isinstance(spec, str):
        make = BUILT_IN.get(spec)
        if make is None:
            raise BadHierarchy(f"unknown built-in hierarchy {spec!r}; expected one of {sorted(BUILT_IN)}",
                               input_name=column)
        return make(column)
    if isinstance(spec, Mapping):
        return MappingHierarchy(spec, name=column)
    if isinstance(spec, Sequence) and spec and all(callable(f) for f in spec):
        return FunctionHierarchy(spec, name=column)
    raise BadHierarchy(f"cannot read hierarchy {spec!r}: give a Hierarchy, a built-in name, a dict of "
                       "value → labels or a list of functions", input_name=column)
