"""Code tables printed on the card as numbers.

Sex codes follow GB/T 2261.1-2003, nation codes GB 3304-1991 (with its two
additions, 97 and 98). The ID number's check digit (GB 11643-1999) is
:func:`edge.identity.check_digit`, shared with the HQ privacy scrub::

    >>> SEX_CODES["1"], NATION_CODES["01"], NATION_CODES["56"]
    ('男', '汉族', '基诺族')
"""

from __future__ import annotations

SEX_CODES: dict[str, str] = {"0": "未知的性别", "1": "男", "2": "女", "9": "未说明的性别"}
"""GB/T 2261.1-2003 个人基本信息分类与代码 第1部分: 人的性别代码."""

SEX_KEYS: dict[str, str] = {"0": "unknown", "1": "male", "2": "female", "9": "unstated"}
"""The same codes as stable keys for messages."""

_NATIONS = [
    "汉",
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
]

NATION_CODES: dict[str, str] = {f"{i:02d}": f"{name}族" for i, name in enumerate(_NATIONS, start=1)}
"""GB 3304-1991 中国各民族名称的罗马字母拼写法和代码: 01 汉族 … 56 基诺族."""
NATION_CODES["97"] = "其他"
NATION_CODES["98"] = "外国血统中国籍人士"
