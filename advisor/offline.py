"""The offline advisor model: a deterministic LangChain chat model, the default when no
language model endpoint is configured.

It reads the operator's question (English, and the main questions in Chinese, German,
French and Spanish), calls the right tools with the right arguments, and once the tool
results are back writes the answer from the templates in ``prompts/offline_answers.md``,
or ``prompts/offline_answers.zh.md`` for a question in Chinese (German, French and Spanish
questions are answered in English). Text the tools write (churn reasons, cluster labels,
playbook passages, a plan's copy) stays as written. Every number in its answers
comes from a tool result. It goes through the same agent, tools and UI as a real model.
"""

from __future__ import annotations

import difflib
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from analytics.rfm import DEFAULT_SEGMENT_RULES

from .plans import load_prompt
from .tools import SEGMENT_SYNONYMS

__all__ = ["Intent", "OfflineAdvisorModel", "interpret", "language"]

SEGMENTS = [rule.name for rule in DEFAULT_SEGMENT_RULES]


@dataclass
class Intent:
    """What the question asks for: the tool calls to make."""

    kind: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _number(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text)
    return float(match.group(1).replace(",", "")) if match else None


#: Words that say who, not which segment: never fuzzy-matched to a segment name
#: ("customers" is within difflib's reach of "New Customers").
_GENERIC = {"customer", "customers", "client", "clients", "user", "users", "buyer", "buyers",
            "shopper", "shoppers", "member", "members", "people", "them", "they"}
# A segment's own words, for typos: "hibernatng", "need atention", "champoins".
_DISTINCT = {" ".join(w for w in s.lower().split() if w not in _GENERIC): s for s in SEGMENTS}


def find_segment(text: str) -> str | None:
    """A segment named in free text: full names first, then synonyms, then typos."""
    # "revenue at risk", "at risk of churning" speak of churn, not of the At Risk segment
    low = re.sub(r"(?:revenue|value|money|sales)\b[^.?!]{0,20}?\bat risk|at risk of"
                 r"|(?<!价值)流失风险(?:最|较|很|更)?[高大]", " ",
                 text.lower())  # "how much revenue is at risk?", "流失风险最高的客户"
    # whole words, plural allowed: "new" is not "newsletter", "loyal" not "loyalty",
    # "at risk" not "what risk"
    names = [(name.lower().rstrip("s"), name) for name in SEGMENTS] + list(
        SEGMENT_SYNONYMS.items())
    for words, segment in sorted(names, key=lambda pair: -len(pair[0])):
        if re.search(rf"(?<![a-z]){re.escape(words)}(?:e?s)?(?![a-z])", low):
            return segment
    tokens = [t for t in re.findall(r"[a-z]+", low) if t not in _GENERIC]
    for i in range(len(tokens)):
        for name, segment in _DISTINCT.items():
            words = name.split()
            if _typo_of(tokens[i:i + len(words)], words):
                return segment
    return None


def _typo_of(typed: list[str], words: list[str]) -> bool:
    """Each typed word is close to the name's word ("hibernatng", "need atention"); short
    words must be exact, and a one-word name needs five letters ("new" is not "news")."""
    if len(typed) != len(words) or (len(words) == 1 and len(words[0]) < 5):
        return False
    return all(t == w if len(w) < 4 else
               difflib.SequenceMatcher(None, t, w).ratio() >= 0.85
               for t, w in zip(typed, words, strict=True))


def _customer_id(text: str) -> str | None:
    # "customer no. 12", "customer NOVA7" (an id, not "no"), "客户12345的情况" (the id ends
    # where the Chinese does)
    match = re.search(r"(?:customer|client|user|客户|用户)\s*(?:(?:id|no)(?![a-z\d])\.?|#)?"
                      r"\s*[:#]?\s*([A-Za-z]*\d[A-Za-z0-9_-]*)", text, flags=re.I)
    return match.group(1) if match else None


def _has(text: str, *words: str) -> bool:
    return any(w in text for w in words)


def _word(text: str, *words: str) -> bool:
    """A whole word (plural allowed): "how" is not in "show", "tip" not in "multiple".
    Chinese words are found anywhere: Chinese writes no spaces between words."""
    return any(w in text if _CHINESE.search(w) else re.search(rf"\b{re.escape(w)}s?\b", text)
               for w in words)


_CHINESE = re.compile(r"[\u4e00-\u9fff]")


# What a list of customers is ranked by, from the words of the question (first match wins).
_RANKING_WORDS = (
    ("predicted_clv", ("lifetime value", "clv", "ltv", "valuable", "future value",
                       "predicted value", "价值")),
    ("avg_order_value", ("order value", "basket", "aov", "客单价")),
    ("frequency", ("often", "frequent", "most orders", "number of orders", "by orders",
                   "order count", "次数", "频次")),
    ("monetary", ("spend", "spent", "spender", "revenue", "sales", "monetary", "top",
                  "best", "biggest", "largest", "most important", "消费", "最好", "最大")),
)
# German, French and Spanish words for churn: the main questions are understood in them
# too (the answers are in English)
_CHURN_ELSEWHERE = ("abwander", "wandert ab", "wandern ab", "kündig", "désabonn", "attrition",
                    "perd ", "perdons", "perdu", "perte de clients", "abandono", "perdemos",
                    "fuga de clientes")
_RISK_WORDS = ("risk", "churn", "losing", "lose", "lapse", "leave", "leaving", "流失",
               "risiko", "risque", "riesgo", *_CHURN_ELSEWHERE)
_LIST_WORDS = ("which customers", "which clients", "which users", "who ", "who'", "list",
               "rank", "sort customers", "order customers",
               "show me the", "customers with", "welche kunden", "quels clients",
               "qué clientes", "哪些客户", "哪些用户", "谁")
_ACTION_WORDS = ("what should", "what can i", "what do i do", "what to do", "how do i",
                 "how can i", "how should", "how to", "strateg", "best practice", "advice",
                 "advise", "was soll", "wie kann", "que faire", "qué hago", "cómo",
                 "怎么办", "如何", "怎么", "建议")
_KPI_WORDS = ("how many customers", "how many orders", "number of customers",
              "number of orders", "average order", "order value", "aov", "basket size",
              "revenue", "sales", "turnover", "kpi", "key figures", "key metrics",
              "how is the shop", "how's the shop", "how is my shop", "how are we doing",
              "how is business", "orders per customer", "active customers", "key numbers",
              "headline", "stats", "statistics", "metrics", "dashboard", "umsatz",
              "bestellwert", "wie viele kunden", "chiffre d'affaires", "panier moyen",
              "combien de clients", "ventas", "ticket medio", "cuántos clientes", "多少客户",
              "多少用户", "客单价", "销售额", "营收", "收入", "指标")


# Words of a question about products, countries or channels: product names, not customers
_PRODUCT_WORDS = ("product", "item", "sku", "article", "bestseller", "best seller",
                  "best-seller", "best selling", "best-selling", "artikel")
_PRODUCT_STEMS = ("produkt", "produit", "producto", "商品", "产品", "单品", "meistverkauft")
_BUY_WORDS = ("buy", "purchase", "kaufen", "achète", "compran", "买")
_DIMENSION_WORDS = (("channel", ("channel", "kanal", "canal", "渠道")),
                    ("country", ("country", "countries", "market", "land", "länder", "pays",
                                 "país", "paises", "países", "国家", "地区")))


def _products(q: str, segment: str | None) -> Intent | None:
    """Best-selling products, overall or what a segment's customers buy."""
    if not (_word(q, *_PRODUCT_WORDS) or _has(q, *_PRODUCT_STEMS)
            or (segment and _word(q, *_BUY_WORDS))) or _has(
            q, "which customers", "who ", "top customers", "customers who", "recommend"):
        return None
    by = ("customers" if _has(q, "popular", "buyers", "how many customers", "most customers",
                              "people") else
          "orders" if _has(q, "often", "orders", "most ordered") else
          "quantity" if _has(q, "units", "quantity", "volume", "pieces") else "revenue")
    top = _number(r"(?:top|first|前)\s*(\d+)", q) or _number(
        r"(?<![\d.,%])(\d+)\s+(?:[a-z-]+\s+)?(?:products|items|skus|bestsellers)", q)
    args: dict[str, Any] = {"by": by, "top": int(top or 10)}
    if segment:
        args["segment"] = segment
    return Intent("top_products", [("top_products", args)])


def _dimension(q: str, question: str, segment: str | None) -> Intent | None:
    """Customers by country or channel; which channel to use is the playbook's."""
    by = next((name for name, words in _DIMENSION_WORDS if _word(q, *words)), None)
    if by is None:
        return None
    if _has(q, "which channel should", "what channel should", "best channel",
            "which channel to", "what channel to"):
        args = {"query": question, **({"segment": segment} if segment else {})}
        return Intent("playbook_search", [("playbook_search", args)])
    return Intent("breakdown", [("breakdown", {"by": by})])


def _top(q: str) -> float | None:
    """How many customers: "top 5", "first 20", "前10", "the 20 customers", "20 loyal customers"."""
    return _number(r"(?:top|first|前)\s*(\d+)", q) or _number(
        r"(?<![\d.,%])(\d+)\s+(?:[a-z-]+\s+)?(?:customers|clients|users)", q)


def _list_of_customers(q: str, segment: str | None, top: float | None) -> Intent | None:
    """A ranked list of customers, when the question asks for one: the at-risk list when
    it speaks of churn, else the top customers by what it names (spend by default)."""
    asks_list = _has(q, *_LIST_WORDS) or top is not None or bool(
        re.search(r"\bwhich\b(?! segment)", q) and segment)
    if not asks_list or _has(q, "which segment", "what segment", "welches segment",
                             "quel segment", "qué segmento", "哪个用户群", "哪个群"):
        return None
    args: dict[str, Any] = {"top": int(top or 10)}
    if _has(q, *_RISK_WORDS):
        if segment:
            args["segment"] = segment
        return Intent("at_risk_customers", [("at_risk_customers", args)])
    by = next((name for name, words in _RANKING_WORDS if _has(q, *words)), None)
    if by is None:
        if _has(q, "which customers", "who should", "call first", "contact first"):
            return Intent("at_risk_customers", [("at_risk_customers", args)])
        return None
    # "best customers", "top customers" name the ranking here, not the Champions segment
    named = find_segment(re.sub(r"\b(?:best|top)\s+(?:\d+\s+)?customers?\b", " ", q))
    args = {"top": args["top"], "by": by, **({"segment": named} if named else {})}
    return Intent("top_customers", [("top_customers", args)])


def interpret(question: str) -> Intent:
    """Map a question to tool calls (deterministic keyword and pattern rules)."""
    q = question.lower()
    segment = find_segment(question)
    customer = _customer_id(question)
    top = _top(q)
    cap = _number(r"(\d+(?:\.\d+)?)\s*%", q)
    budget = _number(r"(?:budget|预算)\D{0,12}?([\d,]+(?:\.\d+)?)", q)
    if _has(q, "campaign", "win-back", "winback", "win back", "draft", "plan for",
            "kampagne", "campagne", "campaña", "活动",
            "召回", "方案"):
        args: dict[str, Any] = {"segment": segment or "At Risk"}
        if cap is not None:
            args["discount_cap"] = cap / 100
        if budget is not None:
            args["budget"] = budget
        for channel in ("email", "sms", "push", "app"):
            if channel in q:
                args["channel"] = channel
        return Intent("campaign_plan", [("campaign_plan", args)])
    if customer and _has(q, "recommend", "推荐"):
        return Intent("recommendations", [("recommendations", {"customer_id": customer})])
    if customer:
        return Intent("customer_profile", [("customer_profile", {"customer_id": customer})])
    if _has(q, "a/b", "ab test", "a-b", "sample size", "holdout", "experiment", "样本", "实验"):
        args = {"segment": segment or "At Risk"}
        if cap is not None:
            args["uplift"] = cap / 100
        return Intent("ab_test_plan", [("ab_test_plan", args)])
    counting = _has(q, "how many", "how much", "wie viele", "combien", "cuánt", "多少")
    # "复购率怎么样？" asks how the repeat rate is, not how to do something
    acting = re.sub(r"(?:怎么样|怎样|如何)[\s？?。!！]*$", "", q)
    if not counting and (_has(acting, *_ACTION_WORDS) or _word(q, "idea", "tip")):
        args = {"query": question}
        if segment:
            args["segment"] = segment
        return Intent("playbook_search", [("playbook_search", args)])
    if by := _dimension(q, question, segment):
        return by
    if products := _products(q, segment):
        return products
    if listed := _list_of_customers(q, segment, top):
        return listed
    if _has(q, "churn", "revenue at risk", "losing", "流失", "at risk", *_CHURN_ELSEWHERE):
        args = {"segment": segment} if segment else {}  # "the churn rate of Champions"
        return Intent("churning_segments", [("churning_segments", args)])
    if _has(q, "cohort", "retention", "retain", "repeat", "kohorte", "wiederkauf",
            "rétention", "retención", "recompra", "réachat", "留存", "复购"):
        return Intent("cohort_retention", [("cohort_retention", {})])
    if _has(q, "lifetime value", "clv", "ltv", "worth", "kundenwert", "valeur vie",
            "valeur client", "valor de vida", "生命周期", "价值"):
        args = {"segment": segment} if segment else {}
        return Intent("clv_summary", [("clv_summary", args)])
    if _has(q, *_KPI_WORDS):
        return Intent("shop_kpis", [("shop_kpis", {})])
    if _word(q, "how", "idea", "tip") or _has(q, "best practice", "playbook", "coupon",
                                              "loyalty", "如何", "怎么", "优惠券", "积分"):
        args = {"query": question}
        if segment:
            args["segment"] = segment
        return Intent("playbook_search", [("playbook_search", args)])
    if _has(q, "segment", "overview", "summary", "summari", "customers", "übersicht",
            "aperçu", "resumen", "分群", "概览"):
        return Intent("segment_overview", [("segment_overview", {})])
    return Intent("help")


def language(question: str) -> str:
    """The language the offline advisor answers in: ``"zh"`` for a question written in
    Chinese (Han characters, no Japanese kana), else ``"en"``."""
    if re.search(r"[\u3040-\u30ff]", question) or not re.search(r"[\u4e00-\u9fff]", question):
        return "en"
    return "zh"


@cache
def _templates(lang: str = "en") -> dict[str, str]:
    name = "offline_answers.md" if lang == "en" else f"offline_answers.{lang}.md"
    sections = re.split(r"^## ", load_prompt(name), flags=re.M)[1:]
    return {s.split("\n", 1)[0].strip(): s.split("\n", 1)[1].strip() for s in sections}


# The words an answer writes around its template, by language (filled with str.format).
_PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "overall": "overall", "in_segment": "in {segment}", "among": "among {segment}",
        "all_customers": "all customers",
        "change": ", {signed} in the last {days} days",
        "active": ", and {n} ordered in the last {days} days",
        "lapsed": "; {n} who ordered in the {window} days before that have not ordered since",
        "left_out": "Postage, fees and adjustments are left out ({codes} codes, {revenue} of "
                    "revenue).",
        "to_recommend": "To recommend: ",
        "ab_enough": "a holdout of {n} ({share}) is enough.",
        "ab_larger": "hold out {n} customers rather than {share} to reach that power.",
        "ab_too_few": "that is too few for this power: test a larger uplift, pool segments, or "
                      "read the result as directional.",
        "follow_up": "For a plan with {segment}'s own numbers (audience, offer, control group, "
                     'cost), ask: "draft a campaign for {segment}".',
        "saved": " (saved as plan {id})",
        "why_discount": "- Why this discount: {text}.", "timing": "- Timing: {text}.",
        "kpi": "- KPI: order rate within {days} days from {baseline} to {target}; {n} "
               "customers per group detect that uplift.",
        "subject": "- Subject: {text}", "note": "- Note: {text}", "sources": "Sources: ",
        "could_not": "I could not do that: {error}", "points": "{value:+.1f} pts",
    },
    "zh": {
        "overall": "全店", "in_segment": "{segment} 中", "among": "{segment} 的客户中",
        "all_customers": "全部客户",
        "change": "，近 {days} 天{direction} {count} 位",
        "active": "，其中 {n} 位在最近 {days} 天内下过单",
        "lapsed": "；在此之前 {window} 天内下过单的客户中有 {n} 位此后再未下单",
        "left_out": "已排除运费、手续费和调整项（{codes} 个代码，收入 {revenue}）。",
        "to_recommend": "推荐商品：",
        "ab_enough": "留出 {n} 位（{share}）作为对照组即可。",
        "ab_larger": "应留出 {n} 位客户作为对照组，而不是 {share}，才能达到该检验功效。",
        "ab_too_few": "人数不足以达到该检验功效：可检验更大的提升、合并用户群，或仅将结果视为"
                      "方向性参考。",
        "follow_up": "如需基于 {segment} 自身数据（受众、优惠、对照组、成本）的方案，可以问："
                     '"给 {segment} 设计一个召回活动"。',
        "saved": "（已保存为方案 {id}）",
        "why_discount": "- 折扣依据：{text}", "timing": "- 发送时机：{text}",
        "kpi": "- KPI：{days} 天内下单率从 {baseline} 提升到 {target}；每组 {n} 位客户即可"
               "检测到该提升。",
        "subject": "- 邮件标题：{text}", "note": "- 注意：{text}", "sources": "来源：",
        "could_not": "无法完成：{error}", "points": "{value:+.1f} 个百分点",
    },
}
# Table headers and ranking criteria in Chinese (the English ones are the keys).
_ZH_WORDS = {
    "segment": "用户群", "customers": "客户数", "mean churn": "平均流失概率",
    "revenue at risk": "风险收入", "churn change": "流失概率变化", "revenue share": "收入占比",
    "mean CLV": "平均预测价值", "customer": "客户", "churn probability": "流失概率",
    "why": "原因", "predicted value": "预测价值", "spend to date": "累计消费",
    "orders": "订单数", "average order": "平均订单金额", "product": "商品", "name": "名称",
    "revenue": "收入", "units": "销量", "country": "国家/地区", "channel": "渠道",
    "number of orders": "订单数", "average order value": "平均订单金额",
    "number of customers": "购买客户数", "units sold": "销量",
    "predicted value over the next {h} days": "未来 {h} 天预测价值",
    "revenue at risk over the next {h} days": "未来 {h} 天风险收入",
    "churn probability over the next {h} days": "未来 {h} 天流失概率",
}
# What each segment is called in Chinese RFM practice, written after its name in Chinese
# answers; each gloss names its own segment again when typed back (see SEGMENT_SYNONYMS).
_ZH_SEGMENTS = {
    "Champions": "重要价值客户", "Loyal Customers": "忠诚客户",
    "Potential Loyalists": "潜力客户", "New Customers": "新客户", "Promising": "新晋客户",
    "Need Attention": "需要关注客户", "About To Sleep": "即将沉睡客户",
    "At Risk": "高价值流失风险客户", "Cannot Lose Them": "不能失去的客户",
    "Hibernating": "沉睡客户", "Lost": "已流失客户",
}


# The churn reasons the analytics write (analytics.churn.churn_reasons), in Chinese.
_ZH_REASONS = (
    (r"no order for (\d+) days, ([\d.]+)× their usual gap of (\d+) days",
     r"已 \1 天未下单，是其平均间隔 \3 天的 \2 倍"),
    (r"one order only, (\d+) days ago", r"只下过一单，在 \1 天前"),
    (r"(\d+) orders? in the last (\d+) days against (\d+) in the (\d+) before",
     r"最近 \2 天下了 \1 单，之前 \4 天为 \3 单"),
    (r"no order for (\d+) days", r"已 \1 天未下单"),
    (r"all (\d+) orders? on one day, (\d+) days ago", r"全部 \1 单都在同一天，\2 天前"),
    (r"orders about every (\d+) days, less often than every (\d+) days",
     r"约每 \1 天下一单，少于每 \2 天一单"),
    (r"only (\d+) orders? so far", r"目前只下过 \1 单"),
    (r"buying at their usual pace", "按平常的节奏购买"),
    (r"; ", "；"),
)


def _reasons(text: str | None, lang: str) -> str | None:
    """A customer's churn reasons in the answer's language (as written if unknown)."""
    if lang != "zh" or not text:
        return text
    for pattern, words in _ZH_REASONS:
        text = re.sub(pattern, words, text)
    return text


# The words of a cluster's label (analytics.clusters), in Chinese.
_ZH_CLUSTER_WORDS = {"one-time": "一次性", "occasional": "偶尔购买的", "regular": "定期购买的",
                     "frequent": "高频", "low": "低客单", "mid": "中客单", "high": "高客单",
                     "active": "活跃", "lapsing": "趋于流失", "lapsed": "已流失"}
_CLUSTER_LABEL = re.compile(r"(one-time|occasional|regular|frequent) (low|mid|high)-basket "
                            r"(coupon-driven )?buyers(?:, (active|lapsing|lapsed))?"
                            r"(?: \(group (\d+)\))?")


def _cluster(label: str | None, lang: str) -> str | None:
    """A cluster's label in the answer's language (as written if unknown)."""
    match = _CLUSTER_LABEL.fullmatch(label or "") if lang == "zh" else None
    if not match:
        return label
    often, basket, coupons, activity, group = match.groups()
    words = _ZH_CLUSTER_WORDS
    text = f"{words[often]}{words[basket]}{'、依赖优惠券的' if coupons else ''}买家"
    text += f"，{words[activity]}" if activity else ""
    return text + (f"（第 {group} 组）" if group else "")


def _say(lang: str, key: str, **values: Any) -> str:
    return _PHRASES[lang][key].format(**values)


def _word_in(lang: str, english: str) -> str:
    return _ZH_WORDS.get(english, english) if lang == "zh" else english


def _segment(name: str | None, lang: str) -> str | None:
    """A segment's name, with its Chinese name beside it in a Chinese answer."""
    gloss = _ZH_SEGMENTS.get(name or "") if lang == "zh" else None
    return f"{name}（{gloss}）" if gloss else name


def _scope(segment: str, lang: str, inside: str = "in_segment") -> str:
    return _say(lang, "overall") if segment == "all" else _say(
        lang, inside, segment=_segment(segment, lang))


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _table(rows: list[dict[str, Any]], columns: dict[str, str], lang: str = "en") -> str:
    head = ("| " + " | ".join(_word_in(lang, c) for c in columns.values()) + " |\n|"
            + "---|" * len(columns))
    lines = []
    for row in rows:
        cells = []
        for key in columns:
            value = row.get(key)
            if isinstance(value, float) and key.endswith("probability_change"):
                value = _say(lang, "points", value=value * 100)
            elif isinstance(value, float):
                is_share = key.endswith(("share", "probability")) or key.startswith("mean_churn")
                value = _pct(value) if is_share else _money(value)
            cells.append("" if value is None else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n" + "\n".join(lines)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _change(top: dict[str, Any], days: int | None, lang: str) -> str:
    n = top.get("customers_change")
    if n is None or not days:
        return ""
    return _say(lang, "change", signed=f"{'+' if n >= 0 else ''}{n}", days=days,
                direction="增加" if n >= 0 else "减少", count=f"{abs(n):,}")


def _answer_churning(r: dict[str, Any], lang: str = "en") -> str:
    focus = r.get("focus")
    top = focus or r["segments"][0]
    change = _change(top, r.get("change_over_days"), lang)
    table = _table(r["segments"][:6], _CHURN_COLUMNS, lang)
    if focus:
        rank = focus["rank"]
        text = _templates(lang)["churning_segment"].format(
            segment=_segment(focus["segment"], lang), horizon_days=r["horizon_days"],
            churn=_pct(focus["mean_churn_probability"]), customers=f"{focus['customers']:,}",
            change=change, expected=f"{focus['expected_churners']:,}",
            revenue_at_risk=_money(focus["revenue_at_risk"]),
            rank=rank if lang != "en" else "" if rank == 1 else f"{_ordinal(rank)} ",
            segments=len(r["segments"]), shop_churn=_pct(r["mean_churn_probability"]),
            total_risk=_money(r["total_revenue_at_risk"]))
        return text + "\n\n" + table
    text = _templates(lang)["churning_segments"].format(
        segment=_segment(top["segment"], lang), revenue_at_risk=_money(top["revenue_at_risk"]),
        horizon_days=r["horizon_days"], churn=_pct(top["mean_churn_probability"]),
        customers=f"{top['customers']:,}", change=change,
        total_risk=_money(r["total_revenue_at_risk"]),
        shop_churn=_pct(r["mean_churn_probability"]), expected=f"{r['expected_churners']:,}",
        all_customers=f"{r['customers']:,}")
    return text + "\n\n" + table


_CHURN_COLUMNS = {"segment": "segment", "customers": "customers",
                  "mean_churn_probability": "mean churn", "revenue_at_risk": "revenue at risk",
                  "mean_churn_probability_change": "churn change"}


def _answer_overview(r: dict[str, Any], lang: str = "en") -> str:
    text = _templates(lang)["segment_overview"].format(as_of=r["as_of"],
                                                        customers=f"{r['customers']:,}",
                                                        horizon_days=r["horizon_days"])
    return text + "\n\n" + _table(r["segments"], {
        "segment": "segment", "customers": "customers", "revenue_share": "revenue share",
        "mean_churn_probability": "mean churn", "revenue_at_risk": "revenue at risk",
        "mean_predicted_clv": "mean CLV"}, lang)


def _answer_at_risk(r: dict[str, Any], lang: str = "en") -> str:
    text = _templates(lang)["at_risk_customers"].format(
        n=len(r["customers"]), scope=_scope(r["segment"], lang), horizon_days=r["horizon_days"])
    rows = [{**row, "churn_reasons": _reasons(row.get("churn_reasons"), lang)}
            for row in r["customers"]]
    return text + "\n\n" + _table(rows, {
        "customer_id": "customer", "rfm_segment": "segment",
        "churn_probability": "churn probability", "revenue_at_risk": "revenue at risk",
        "churn_reasons": "why"}, lang)


_CRITERIA = {"predicted_clv": "predicted value over the next {h} days",
             "monetary": "spend to date", "frequency": "number of orders",
             "avg_order_value": "average order value",
             "revenue_at_risk": "revenue at risk over the next {h} days",
             "churn_probability": "churn probability over the next {h} days"}


def _answer_top(r: dict[str, Any], lang: str = "en") -> str:
    criterion = _word_in(lang, _CRITERIA[r["by"]]).format(h=r["horizon_days"])
    text = _templates(lang)["top_customers"].format(
        n=len(r["customers"]), scope=_scope(r["segment"], lang), criterion=criterion)
    labels = {"customer_id": "customer", "rfm_segment": "segment",
              "predicted_clv": "predicted value", "monetary": "spend to date",
              "frequency": "orders", "avg_order_value": "average order",
              "churn_probability": "churn probability", "revenue_at_risk": "revenue at risk"}
    rows = [{**row, "frequency": None if row.get("frequency") is None else
             f"{row['frequency']:,.0f}"} for row in r["customers"]]
    # the tool's columns, the ranking's first
    return text + "\n\n" + _table(rows, {c: labels[c] for c in (rows[0] if rows else [])}, lang)


def _answer_kpis(r: dict[str, Any], lang: str = "en") -> str:
    active = "" if r.get("active_customers") is None else _say(
        lang, "active", n=f"{r['active_customers']:,}", days=r["active_days"])
    lapsed = "" if r.get("lapsed_customers") is None else _say(
        lang, "lapsed", n=f"{r['lapsed_customers']:,}", window=r["lapsed_window_days"])
    return _templates(lang)["shop_kpis"].format(
        first_order=r["first_order"], last_order=r["last_order"],
        customers=f"{r['customers']:,}", orders=f"{r['orders']:,}",
        revenue=_money(r["revenue"]), avg_order_value=_money(r["avg_order_value"]),
        orders_per_customer=f"{r['orders_per_customer']:.2f}",
        repeat=_pct(r["repeat_purchase_rate"]), active=active, lapsed=lapsed,
        horizon_days=r["horizon_days"], predicted_revenue=_money(r["predicted_revenue"]),
        revenue_at_risk=_money(r["revenue_at_risk"]))


_PRODUCT_CRITERIA = {"revenue": "revenue", "customers": "number of customers",
                     "orders": "number of orders", "quantity": "units sold"}


def _answer_products(r: dict[str, Any], lang: str = "en") -> str:
    text = _templates(lang)["top_products"].format(
        n=len(r["products"]), scope=_scope(r["segment"], lang, "among"),
        criterion=_word_in(lang, _PRODUCT_CRITERIA[r["by"]]),
        as_of=r["as_of"], products=f"{r['products_in_scope']:,}",
        customers=f"{r['customers_in_scope']:,}", revenue=_money(r["revenue_in_scope"]))
    rows = [{**row, **{k: f"{row[k]:,.0f}" for k in ("customers", "orders", "quantity")
                       if row.get(k) is not None}} for row in r["products"]]
    columns = {"product_id": "product", "name": "name", "revenue": "revenue",
               "revenue_share": "revenue share", "customers": "customers", "orders": "orders",
               "quantity": "units"}
    text += "\n\n" + _table(rows, {k: v for k, v in columns.items() if rows and k in rows[0]},
                            lang)
    left_out = r.get("non_products_left_out") or {}
    if left_out.get("codes"):
        text += "\n\n" + _say(lang, "left_out", codes=f"{left_out['codes']:,}",
                              revenue=_money(left_out["revenue"]))
    return text


def _answer_breakdown(r: dict[str, Any], lang: str = "en") -> str:
    text = _templates(lang)["breakdown"].format(by=_word_in(lang, r["by"]),
                                                horizon_days=r["horizon_days"])
    rows = [{**row, "customers": f"{row['customers']:,}"} for row in r["rows"]]
    return text + "\n\n" + _table(rows, {
        r["by"]: r["by"], "customers": "customers", "revenue_share": "revenue share",
        "mean_churn_probability": "mean churn", "revenue_at_risk": "revenue at risk",
        "predicted_clv": "predicted value"}, lang)


def _answer_profile(r: dict[str, Any], lang: str = "en") -> str:
    reasons = _reasons(r.get("churn_reasons"), lang) or ""
    if reasons:
        reasons = f"（{reasons}）" if lang == "zh" else f" ({reasons})"
    text = _templates(lang)["customer_profile"].format(
        customer_id=r["customer_id"], rfm_segment=_segment(r.get("rfm_segment"), lang),
        cluster_label=_cluster(r.get("cluster_label"), lang), frequency=r.get("frequency"),
        monetary=_money(r.get("monetary")), recency_days=r.get("recency_days"),
        horizon_days=r["horizon_days"], churn=_pct(r.get("churn_probability")),
        reasons=reasons, clv=_money(r.get("predicted_clv")),
        expected_orders=f"{r.get('expected_orders') or 0:.1f}",
        risk=_money(r.get("revenue_at_risk")))
    recs = r.get("recommendations") or []
    if recs:
        text += "\n\n" + _say(lang, "to_recommend") + "; ".join(
            f"{x['product_id']}" + (f" ({x['name']})" if x.get("name") else "") for x in recs)
    return text


def _answer_recs(r: dict[str, Any], lang: str = "en") -> str:
    text = _templates(lang)["recommendations"].format(customer_id=r["customer_id"])
    return text + "\n\n" + _table(r["recommendations"], {"product_id": "product",
                                                          "name": "name", "why": "why"}, lang)


def _answer_cohorts(r: dict[str, Any], lang: str = "en") -> str:
    months = r["mean_retention_by_month"]
    return _templates(lang)["cohort_retention"].format(
        m1=_pct(months.get("M1")), m3=_pct(months.get("M3")),
        repeat=_pct(r["repeat_purchase_rate"]), new30=_pct(r["new_customer_repeat_rate_30d"]),
        new90=_pct(r["new_customer_repeat_rate_90d"]))


def _answer_clv(r: dict[str, Any], lang: str = "en") -> str:
    scope = _say(lang, "all_customers") if r["segment"] == "all" else _segment(r["segment"], lang)
    return _templates(lang)["clv_summary"].format(
        horizon_days=r["horizon_days"], scope=scope, total=_money(r["total_predicted_clv"]),
        mean=_money(r["mean_predicted_clv"]), p50=_money(r["quantiles"]["p50"]),
        p90=_money(r["quantiles"]["p90"]))


def _answer_ab(r: dict[str, Any], lang: str = "en") -> str:
    share = f"{r['holdout_share']:.0%}"
    if r["powered"]:
        verdict = _say(lang, "ab_enough", n=f"{r['holdout_at_share']:,}", share=share)
    elif r["audience"] >= 2 * r["required_per_group"]:
        verdict = _say(lang, "ab_larger", n=f"{r['required_per_group']:,}", share=share)
    else:
        verdict = _say(lang, "ab_too_few")
    return _templates(lang)["ab_test_plan"].format(
        uplift=_pct(r["target_uplift"]), segment=_segment(r["segment"], lang),
        baseline=_pct(r["baseline_retention"]), duration_days=r["duration_days"],
        alpha=r["alpha"], power=r["power"], required=f"{r['required_per_group']:,}",
        audience=f"{r['audience']:,}", verdict=verdict)


def _answer_playbook(r: dict[str, Any], lang: str = "en") -> str:
    parts = [_templates(lang)["playbook_search"]]
    for p in r["passages"][:3]:
        body = p["text"].split("\n", 2)[-1].strip()
        parts.append(f"**{p['title']} — {p['section']}** ({p['source']})\n\n{body[:600]}")
    if r.get("segment"):
        parts.append(_say(lang, "follow_up", segment=r["segment"]))
    return "\n\n".join(parts)


def _answer_plan(r: dict[str, Any], lang: str = "en") -> str:
    saved = "" if r.get("plan_id") is None else _say(lang, "saved", id=r["plan_id"])
    text = _templates(lang)["campaign_plan"].format(
        segment=_segment(r["segment"], lang), saved=saved, offer=r["offer"],
        discount=f"{r['discount']:.0%}", treatment=f"{r['treatment_size']:,}",
        holdout=f"{r['holdout_size']:,}", channel=r["channel"], days=r["send_within_days"],
        cost=_money(r["expected_cost"]), incremental=_money(r["expected_incremental_revenue"]))
    lines = [text, "", _say(lang, "why_discount", text=r["discount_rationale"]),
             _say(lang, "timing", text=r["timing_rationale"]),
             _say(lang, "kpi", days=r["horizon_days"], baseline=_pct(r["baseline_retention"]),
                  target=_pct(r["target_retention"]), n=f"{r['required_per_group']:,}"),
             _say(lang, "subject", text=r["subject"]), "", r["body"]]
    lines += [_say(lang, "note", text=w) for w in r.get("warnings", [])]
    if r.get("citations"):
        lines += ["", _say(lang, "sources") + "; ".join(
            f"{c['title']}, \"{c['section']}\" ({c['source']})" for c in r["citations"])]
    return "\n".join(lines)


ANSWERS = {
    "churning_segments": _answer_churning, "segment_overview": _answer_overview,
    "at_risk_customers": _answer_at_risk, "top_customers": _answer_top,
    "shop_kpis": _answer_kpis, "customer_profile": _answer_profile,
    "top_products": _answer_products, "breakdown": _answer_breakdown,
    "recommendations": _answer_recs, "cohort_retention": _answer_cohorts,
    "clv_summary": _answer_clv, "ab_test_plan": _answer_ab,
    "playbook_search": _answer_playbook, "campaign_plan": _answer_plan,
}


def _help(lang: str = "en") -> str:
    return _templates(lang)["help"].format(
        segments=", ".join(_segment(s, lang) or s for s in SEGMENTS))


class OfflineAdvisorModel(BaseChatModel):
    """Deterministic tool-calling chat model; see the module docstring."""

    tool_names: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "offline-advisor"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> OfflineAdvisorModel:
        names = [getattr(t, "name", None) or getattr(t, "__name__", str(t)) for t in tools]
        return self.model_copy(update={"tool_names": names})

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        last_human = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
        question = str(messages[last_human].content)
        results = [m for m in messages[last_human + 1:] if isinstance(m, ToolMessage)]
        if not results:
            intent = interpret(question)
            calls = [(n, a) for n, a in intent.calls if n in self.tool_names]
            if not calls:
                return AIMessage(content=_help(language(question)))
            return AIMessage(content="", tool_calls=[
                {"name": n, "args": a, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}
                for n, a in calls])
        return AIMessage(content=self._compose(results, language(question)))

    def _compose(self, results: list[ToolMessage], lang: str = "en") -> str:
        parts = []
        for message in results:
            if message.status == "error" or not str(message.content).startswith("{"):
                parts.append(_say(lang, "could_not", error=message.content))
                continue
            payload = json.loads(str(message.content))
            parts.append(ANSWERS[str(message.name)](payload, lang))
        return "\n\n".join(parts)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        reply = self._reply(messages)
        if reply.tool_calls:
            chunks = [{"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"],
                       "index": i, "type": "tool_call_chunk"}
                      for i, c in enumerate(reply.tool_calls)]
            yield ChatGenerationChunk(message=AIMessageChunk(content="",
                                                             tool_call_chunks=chunks))
            return
        for token in re.findall(r"\S+\s*|\s+", str(reply.content)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
