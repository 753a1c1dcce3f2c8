"""The offline advisor model: a deterministic LangChain chat model, the default when no
language model endpoint is configured.

It reads the operator's question (English, and the main questions in Chinese, German,
French and Spanish), calls the right tools with the right arguments, and once the tool
results are back writes the answer in the question's language (see ``advisor.languages``)
from the templates in ``prompts/offline_answers.md`` (``offline_answers.zh.md``, ``.de``,
``.fr``, ``.es``). Every number in its answers
comes from a tool result. It goes through the same agent, tools and UI as a real model.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
import uuid
from collections.abc import Iterator, Mapping, Sequence
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

from analytics.campaigns import amount_text
from analytics.rfm import DEFAULT_SEGMENT_RULES

from .languages import (
    COUNTRY_NAMES,
    GERMAN_DEMONYMS,
    ZH_SEGMENTS,
    cluster_label,
    country_name,
    language,
    local_numbers,
    model_words,
    orders,
    plan_text,
    reasons,
    say,
    segment_name,
    word,
)
from .plans import prompt_sections
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
    # and "I'm lost" is a feeling, not the Lost segment
    low = re.sub(r"(?:revenue|value|money|sales)\b[^.?!]{0,20}?\bat risk|at risk of"
                 r"|(?<!价值)流失风险(?:最|较|很|更)?[高大]"
                 r"|\b(?:i am|i'm|im|we are|we're|i feel|feeling)\s+(?:(?:a bit|a little|so"
                 r"|totally|completely|quite|kind of|bit)\s+)?lost\b", " ",
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
    match = re.search(r"(?:customer|client[ae]?|kunden?|user|客户|用户)\s*"
                      r"(?:(?:id|no|nr)(?![a-z\d])\.?|#)?"
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
    ("expected_orders", ("likely to buy", "likely to order", "likely to purchase",
                         "likely to come back", "buy again soon", "order again soon",
                         "buy next", "order next", "will buy", "will order", "expected orders",
                         "next purchase", "next order", "bald wieder", "wieder kaufen",
                         "wieder bestellen", "racheter", "recommander bientôt",
                         "volverán a comprar", "volver a comprar pronto", "再次购买", "回购",
                         "可能购买", "可能下单")),
    ("predicted_clv", ("lifetime value", "clv", "ltv", "valuable", "future value",
                       "predicted value", "vip", "high-value", "high value", "价值")),
    ("avg_order_value", ("order value", "basket", "aov", "客单价")),
    ("frequency", ("often", "frequent", "most orders", "number of orders", "by orders",
                   "order count", "most loyal", "treueste", "am häufigsten",
                   "am meisten bestellt", "plus fidèles",
                   "le plus souvent", "más fieles", "más leales", "más a menudo", "最忠诚",
                   "次数", "频次")),
    ("monetary", ("spend", "spent", "spender", "bought the most", "buy the most",
                  "most money", "besten kunden", "beste kunden", "umsatzstärkst",
                  "meilleurs clients", "meilleures clientes", "mejores clientes",
                  "revenue", "sales", "monetary", "biggest", "largest", "most important",
                  "消费", "最好", "最大", "am meisten gekauft", "am meisten ausgegeben",
                  "le plus dépensé", "le plus acheté", "compraron más", "gastaron más",
                  "买得最多")),
)
# ... and by spend when the question says only "best" or "top" (whole words: "bestellt")
_RANKED_BY_SPEND = ("best", "top")
# German, French and Spanish words for churn: the main questions are understood in them
# too (the answers are in English)
_CHURN_ELSEWHERE = ("abwander", "wandert ab", "wandern ab", "kündig", "désabonn", "attrition",
                    "perd ", "perdons", "perdu", "perte de clients", "abandono", "perdemos",
                    "fuga de clientes", "gefährdet", "menacé", "à risque", "en riesgo")
_RISK_WORDS = ("risk", "churn", "losing", " lose", "lapse", "leave", "leaving", "流失",
               "risiko", "risque", "riesgo", "partent", "partir", "se van", "irse",
               *_CHURN_ELSEWHERE)
_LIST_WORDS = ("which customers", "which clients", "which users", "who ", "who'", "list",
               "wer ", "qui ", "quién", "quiénes",
               "rank", "sort customers", "order customers",
               "show me the", "customers with", "welche kunden", "quels clients",
               "qué clientes", "哪些客户", "哪些用户", "谁", "最多的客户", "meilleurs clients",
               "meilleures clientes")
_ACTION_WORDS = ("what should", "what can i", "what can we", "what do i do", "what to do",
                 "how do i", "how can i", "how should", "how to", "strateg", "best practice",
                 "advice", "advise",
                 "was soll", "wie kann", "wie können", "que faire", "comment faire",
                 "comment vendre", "comment augmenter", "comment améliorer",
                 "comment fidéliser", "comment réduire", "comment récupérer", "qué hago",
                 "怎么办", "如何", "怎么", "建议")
# "How can we grow sales?" asks what to do; "how can we see who is churning?", "how do we
# compare to last month?" ask for numbers
_HOW_WE = re.compile(r"\bhow (?:can|could|do|might) we (?!see|find|compare|rank|list|show|know"
                     r"|tell|identify|measure|count|check|look|spot|stand|fare|perform|do\b"
                     r"|get (?:a|the) list)")
_KPI_WORDS = ("how many customers", "how many orders", "number of customers",
              "number of orders", "average order", "order value", "aov", "basket size",
              "revenue", "sales", "turnover", "kpi", "key figures", "key metrics",
              "how is the shop", "how's the shop", "how is my shop", "how are we doing",
              "how is business", "orders per customer", "active customers", "key numbers",
              "headline", "stats", "statistics", "metrics", "dashboard", "going on",
              "how are things", "state of the shop", "state of my shop", "umsatz",
              "bestellwert", "wie viele kunden", "chiffre d'affaires", "panier moyen",
              "combien de clients", "ventas", "ticket medio", "cuántos clientes", "多少客户",
              "多少用户", "客单价", "销售额", "营收", "收入", "指标")


# How much of the revenue the best customers bring (the headline numbers say): "what share
# of revenue comes from the top 10% of customers?", "how much do we rely on our best
# customers?" ("who are my top 20% customers?" asks for them)
_CONCENTRATION_WORDS = ("pareto", "80/20", "concentrat", "depend on", "rely on", "reliant on",
                        "二八")
_TOP_SHARE = re.compile(r"\btop\s*\d+\s*%|前\s*\d+\s*%")


def _concentration(q: str) -> bool:
    return _has(q, *_CONCENTRATION_WORDS) or bool(_TOP_SHARE.search(q) and _has(
        q, "revenue", "sales", "share", "percent", "how much", "收入", "umsatz", "chiffre",
        "ingresos"))


# "¿Cómo ...?" asks how to do something when a verb of doing follows ("¿cómo puedo
# retener...?", "¿cómo aumento...?"), else how something is ("¿cómo retiene la cohorte?")
_HOW_TO_ES = re.compile(
    r"c[óo]mo\s+(?:\w+\s+)?(?:puedo|podemos|podr[íi]a|podr[íi]amos|debo|debemos|deber[íi]a"
    r"|deber[íi]amos|hago|hacemos|hacer|consigo|conseguimos|conseguir|mejoro|mejoramos"
    r"|mejorar|aumento|aumentamos|aumentar|reduzco|reducimos|reducir|evito|evitamos|evitar"
    r"|recupero|recuperamos|recuperar|dise[ñn]o|dise[ñn]amos|dise[ñn]ar|fidelizo|fidelizar"
    r"|retengo|retenemos|retener|incremento|incrementar|gano|ganar|atraigo|atraer)\b")
# Words of a question about how good the models are (the backtest)
_QUALITY_WORDS = ("accura", "how good is the model", "how good are the model",
                  "how well does the model", "how well do the model", "trust the",
                  "reliab", "backtest", "roc auc", " auc", "model quality", "validat",
                  "how good are the prediction", "how good is the prediction",
                  "model perform", "models perform", "did the model",
                  "准确", "可信", "靠谱", "回测", "多准", "准不准", "wie genau", "genauigkeit",
                  "zuverlässig", "précis", "fiable", "fiabilité", "preciso", "precisión",
                  "confiable")
# Words of a question about products, countries or channels: product names, not customers
_PRODUCT_WORDS = ("product", "item", "sku", "article", "bestseller", "best seller",
                  "best-seller", "best selling", "best-selling", "artikel", "sold best",
                  "sell best", "sells best", "selling best", "sold the most", "sold most",
                  "top sellers", "top-selling", "top selling", "卖得最好", "最畅销", "畅销")
_PRODUCT_STEMS = ("produkt", "produit", "producto", "商品", "产品", "单品", "meistverkauft")
_BUY_WORDS = ("buy", "purchase", "kaufen", "kauft", "achète", "achètent", "compra", "compran",
              "买")
_DIMENSION_WORDS = (("channel", ("channel", "kanal", "canal", "渠道")),
                    ("country", ("country", "countries", "market", "land", "länder", "pays",
                                 "país", "paises", "países", "国家", "地区")))


def _products(q: str, segment: str | None, country: str | None = None,
              narrow: Mapping[str, Any] | None = None) -> Intent | None:
    """Best-selling products, overall or what a segment's customers buy, or a country's, or
    those ``narrow`` chooses (inactive days, one-time buyers, a spend)."""
    buys = _word(q, *_BUY_WORDS) and not _has(q, "repeat", "again", "rate", "frequen",
                                              "twice", "more than once", "second", "often",
                                              "how many", "share", "percent", "%")
    what = _has(q, "what ", "was ", "qu'", "que ", "qué ", "什么")  # "what do customers buy?"
    if not (_word(q, *_PRODUCT_WORDS) or _has(q, *_PRODUCT_STEMS)
            or ((segment or country or what) and buys)) or (_has(
            q, "which customers", "who ", "top customers", "customers who")
            and not re.match(r"(?:what|which)(?: \w+)? (?:do|does|did)\b", q)) or (
            _has(q, "recommend") and not segment):  # to a segment: what its customers buy
        return None
    by = ("customers" if _has(re.sub(r"one[- ]time buyers", "", q), "popular", "buyers",
                              "how many customers", "most customers", "people") else
          "orders" if _has(q, "often", "orders", "most ordered") else
          "quantity" if _has(q, "units", "quantity", "volume", "pieces") else "revenue")
    top = _number(r"(?:top|first|前)\s*(\d+)", q) or _number(
        r"(?<![\d.,%])(\d+)\s+(?:[a-z-]+\s+)?(?:products|items|skus|bestsellers)", q)
    args: dict[str, Any] = {"by": by, "top": int(top or 10)}
    if segment:
        args["segment"] = segment
    if days := _recent_days(q):  # "what sold best last month?": from those days' lines
        args["recent_days"] = days
    args.update(narrow or {})  # "what do customers who spent over 500 buy?"
    return Intent("top_products", [("top_products", args)])


# Who bought a product: "customers who bought the Portable Charger", "buyers of P0307",
# "Kunden, die P0307 gekauft haben", "clients qui ont acheté P0307", "买过P0307的客户"
_BOUGHT_END = (r"(?=\s+(?:and|but|in|within|over|during|last|who|with|since|buy|buys|also|"
               r"too|are|is|do|does|did|have|has|spend|spent|most|from|before|after)\b|"
               r"\s*,|\s*[?.!]*$)")
_BOUGHT = (
    re.compile(r"\b(?:who|that|customers|clients|buyers|people|shoppers|users)\s+"
               r"(?:have\s+|has\s+|had\s+)?(?:bought|purchased|ordered)\s+(.+?)" + _BOUGHT_END,
               re.I),
    re.compile(r"\bbuyers\s+of\s+(.+?)" + _BOUGHT_END, re.I),
    re.compile(r"\b(?:die|haben)\s+(.+?)\s+gekauft\b", re.I),
    re.compile(r"\b(?:qui\s+ont|ayant|clients\s+ont)\s+achet[ée]s?\s+(.+?)(?=\s+(?:et|mais|"
               r"depuis|dans|ach[eè]tent)\b|\s*,|\s*[?.!]*$)", re.I),
    re.compile(r"\b(?:que|quienes|clientes)\s+(?:han\s+)?compra(?:ron|do)\s+(.+?)(?=\s+(?:y|"
               r"pero|desde|en|compran)\b|\s*,|\s*[?.!¿]*$)", re.I),
    re.compile(r"(?<!没)(?<!没有)(?<!未)(?:买过|购买过|买了)([^的但而却，,]+?)"
               r"(?:的(?:客户|用户|人)|但|而|却|，|,)"),
)
# What follows "who bought" that is no product: "who bought the most", "who bought again",
# "who ordered in the last 30 days"
_NOT_BOUGHT = re.compile(
    r"(?:the\s+)?(?:most|more|less|again|once|twice|only|anything|something|nothing|"
    r"recently|lately|last|from|before|after|a\s+second|one|\d+\s+times|it|them|this|that|"
    r"in|on|within|during|over|since|for|at|via|by|online|mehr|am meisten|plus|m[áa]s|"
    r"en|dans|depuis|pendant|seit|im|vor|desde|hace|durante|"
    r"a\s+lot|lots|much|many|最多|最)\b.*|\d+|the|a|an|some|all|"
    r"[一两二三四五六七八九十几多\d]+次.*|东西|什么|", re.I)


# The product a plan cross-sells: "cross-sell P0311 to buyers of P0307", "customers who
# bought P0307 but not P0311", "who haven't bought P0311", "aber nicht P0311", "没买过P0311的"
_SUGGEST_END = (r"(?=\s+(?:and|but|in|within|over|during|last|who|with|since|to|a|an|for|"
                r"by|via|buy|buys|also|do|does|are|is|\d+%?)\b|\s*,|\s*[?.!]*$)")
_SUGGEST = (
    re.compile(r"\bcross[- ]?sell(?:ing)?\s+(?!campaign|offer|plan|to\b)(.+?)\s+to\b", re.I),
    re.compile(r"\b(?:to sell|to offer|offering|offer them)\s+(?:them\s+)?(.+?)" + _SUGGEST_END,
               re.I),
    re.compile(r"\b(?:but|and)\s+not\s+(?:yet\s+)?(.+?)" + _SUGGEST_END, re.I),
    re.compile(r"\b(?:haven'?t|have not|hasn'?t|has not|never|didn'?t|did not|not yet)\s+"
               r"(?:yet\s+)?(?:bought|purchased|ordered)\s+(.+?)" + _SUGGEST_END, re.I),
    re.compile(r"\b(?:aber nicht|mais pas|pero no)\s+(.+?)(?=\s+(?:und|et|y|gekauft)\b|"
               r"\s*[,?.!]|$)", re.I),
    re.compile(r"\b(?:die|haben)\s+(.+?)\s+(?:noch\s+)?nicht\s+gekauft", re.I),
    re.compile(r"\bn'ont\s+(?:pas|jamais)(?:\s+encore)?\s+achet[ée]s?\s+(.+?)(?=\s+(?:et|"
               r"mais)\b|\s*[,?.!]|$)", re.I),
    re.compile(r"\bno\s+(?:han\s+)?compra(?:ron|do)\s+(?:todav[íi]a\s+)?(.+?)(?=\s+(?:y|"
               r"pero)\b|\s*[,?.!]|$)", re.I),
    re.compile(r"(?:没买过|没有买过|未购买过?)(.+?)的"),
)


def _suggested_product(question: str) -> str | None:
    """The product a plan is to cross-sell, as written, or None."""
    for pattern in _SUGGEST:
        if (found := pattern.search(question)) and not _NOT_BOUGHT.fullmatch(
                product := found.group(1).strip()):
            return product
    return None


def _bought_product(question: str) -> str | None:
    """The product whose buyers a question is about, as written, or None ("die P0311 noch
    nicht gekauft haben" names who did not buy it: see :func:`_suggested_product`)."""
    for pattern in _BOUGHT:
        if (found := pattern.search(question)) and not _NOT_BOUGHT.fullmatch(
                product := found.group(1).strip()) and not re.search(
                r"\b(?:nicht|not|pas|no)\b", product, re.I):
            return product
    return None


# Words of a question about products whose sales rose or fell lately
_RISING_WORDS = ("trending", "rising", "growing", "grew", "gaining", "taking off", "took off",
                 "selling more", "sell more", "sold more", "up the most", "hot ", "momentum",
                 "increas", "on the rise", "im trend", "legen zu", "steig", "wachs",
                 "en hausse", "progress", "tendance", "en alza", "crec", "suben", "tendencia",
                 "增长", "上升", "走红", "爆款", "热销趋势", "卖得越来越好")
_FALLING_WORDS = ("declin", "falling", "fell", "dropping", "dropped", "losing", "lost the most",
                  "selling less",
                  "sell less", "sold less", "slowing", "down the most", "decreas",
                  "losing steam", "shrinking", "rückläufig", "verlier", "sinkend", "gesunken",
                  "en baisse", "recul", "en baja", "caen", "cayendo", "下滑", "下降", "下跌",
                  "卖得越来越差", "减少")
_SELL_WORDS = ("sell", "sold", "sale", "verkauf", "vend", "卖", "销")


def _how_to(q: str) -> bool:
    """Whether a question asks what to do ("how can we grow sales?"): the playbook's."""
    return _has(q, *_ACTION_WORDS) or bool(_HOW_WE.search(q) or _HOW_TO_ES.search(q))


def _product_trend(q: str, segment: str | None) -> Intent | None:
    """Products whose sales rose or fell the most lately ("which products are trending?")."""
    if _how_to(q):
        return None  # "how do I increase sales of a product?": the playbook's
    falling = _has(q, *_FALLING_WORDS)
    if not (falling or _has(q, *_RISING_WORDS)) or not (
            _word(q, *_PRODUCT_WORDS) or _has(q, *_PRODUCT_STEMS) or (_has(
                q, *_SELL_WORDS) and _has(q, "what", "which", "was ", "welche", "qu", "哪"))):
        return None  # "are sales growing?": the shop's, month by month
    args: dict[str, Any] = {"direction": "falling" if falling else "rising"}
    if (days := _recent_days(q) or _span_days(q)) and days != 30:
        args["days"] = days
    if _has(q, "customers", "buyers", "kunden", "clients", "clientes", "客户"):
        args["by"] = "customers"
    elif _has(q, "units", "quantity", "volume", "pieces", "stück", "unités", "unidades", "件数"):
        args["by"] = "quantity"
    elif _has(q, "orders", "bestellungen", "commandes", "pedidos", "订单"):
        args["by"] = "orders"
    if top := _number(r"(?:top|first|前)\s*(\d+)", q):
        args["top"] = int(top)
    if segment:
        args["segment"] = segment
    return Intent("product_trend", [("product_trend", args)])


# Words of a question about products bought together (market baskets, cross-selling)
_TOGETHER_WORDS = (
    "bought together", "buy together", "purchased together", "ordered together",
    "sold together", "go together", "goes together", "together with", "frequently bought",
    "often bought", "bought with", "buy with", "buys with", "purchased with", "ordered with",
    "sold with", "sells with", "go with", "goes with", "go well with", "goes well with",
    "pair with",
    "pairs with", "paired with", "also buy", "also bought", "cross-sell", "cross sell",
    "bundle", "market basket", "basket analysis", "product pairs", "pairs of products",
    "zusammen gekauft", "zusammen kaufen", "zusammen bestellt", "zusammen mit",
    "achetés ensemble", "achetés avec", "achètent avec", "acheté avec", "vendus ensemble",
    "achetés en même temps", "comprados juntos", "se compran juntos", "compran con",
    "comprado con", "compran junto", "junto con", "一起买", "一起购买", "一起下单", "搭配",
    "同时购买", "同时买", "连带", "组合购买", "捆绑")
# The product a question pairs others with: "... bought with the Portable Charger?",
# "customers who buy P0307 also buy?", "zusammen mit X gekauft", "和P0307一起"
_WITH_PRODUCT = (
    re.compile(r"\b(?:with|alongside|avec|con|en même temps que)\s+(.+?)\s*[?？.!]*$", re.I),
    re.compile(r"\b(?:who|that)\s+(?:buy|bought|purchase[sd]?|order(?:ed)?)\s+(.+?)\s+"
               r"also\b", re.I),
    re.compile(r"\bmit\s+(?:de[mnr]|die|das)?\s*(.+?)\s+(?:zusammen\s+)?(?:gekauft|bestellt"
               r"|kaufen)", re.I),
    re.compile(r"(?:和|与|跟)\s*(.+?)\s*(?:一起|同时|搭配)"),
)


def _together(q: str, question: str) -> Intent | None:
    """Products bought together: all pairs, or what goes with one product."""
    buys_with = re.search(r"\bach[eè]t\w*\b.*\bavec\b|\bcompra\w*\b.*\bcon\b",
                          q)  # "qu'achètent les clients avec X ?"
    if not (_has(q, *_TOGETHER_WORDS) or buys_with) or _has(
            q, "how do", "how to", "how can", "how should", "wie kann", "wie soll",
            "comment ", "cómo", "como ", "如何", "怎么", "怎样"):
        return None
    args: dict[str, Any] = {}
    for pattern in _WITH_PRODUCT:
        if (found := pattern.search(question)) and not re.fullmatch(
                r"(?:each other|one another|it|them|einander|eux|ellos|什么|哪些.*)",
                found.group(1).strip().lower()):
            args["product"] = found.group(1).strip()
            break
    if re.search(r"coupon|discount|voucher|promo|code|offer|free shipping|cup[óo]n|descuento"
                 r"|gutschein|rabatt|remise|r[ée]duction|优惠", args.get("product", ""), re.I):
        return None  # "what do customers buy with a coupon?": not a product
    if _has(q, "lift", "above chance", "strongest", "more than chance", "surprising"):
        args["by"] = "lift"
    if _has(q, "same customers", "across customers", "by customer", "同一客户", "同一个客户"):
        args["across"] = "customers"
    elif _has(q, "same order", "across orders", "one order", "同一订单", "同一笔订单"):
        args["across"] = "orders"
    if top := _number(r"(?:top|first|前)\s*(\d+)", q) or _number(
            r"(?<![\d.,%])(\d+)\s+(?:[a-z-]+\s+)?(?:products|items|pairs)", q):
        args["top"] = int(top)
    return Intent("bought_together", [("bought_together", args)])


# Which channel to use (the playbook's advice), not customers by channel
_CHANNEL_ADVICE = ("which channel should", "what channel should", "best channel",
                   "which channel to", "what channel to", "which channel works",
                   "what channel works", "which channel is best", "welcher kanal",
                   "quel canal", "qué canal", "哪个渠道")


def _dimension(q: str, question: str, segment: str | None) -> Intent | None:
    """Customers by country or channel; which channel to use is the playbook's."""
    by = next((name for name, words in _DIMENSION_WORDS if _word(q, *words)), None)
    if by is None:
        return None
    if _has(q, *_CHANNEL_ADVICE):
        args = {"query": question, **({"segment": segment} if segment else {})}
        return Intent("playbook_search", [("playbook_search", args)])
    return Intent("breakdown", [("breakdown", {"by": by})])


_MONTH_NAMES = (
    ("january", "jan", "januar", "janvier", "enero"), ("february", "feb", "februar", "février",
    "fevrier", "febrero"), ("march", "mar", "märz", "maerz", "mars", "marzo"),
    ("april", "apr", "avril", "abril"), ("may", "mai", "mayo"), ("june", "jun", "juni", "juin",
    "junio"), ("july", "jul", "juli", "juillet", "julio"), ("august", "aug", "août", "aout",
    "agosto"), ("september", "sep", "sept", "septembre", "septiembre"), ("october", "oct",
    "oktober", "octobre", "octubre"), ("november", "nov", "novembre", "noviembre"),
    ("december", "dec", "dezember", "décembre", "decembre", "diciembre"))
_COHORT_WORDS = ("cohort", "kohorte", "cohorte", "同期群", "批次", "新客群")


def _cohort_month(q: str) -> str | None:
    """The cohort a question names: "the 2024-03 cohort", "2024年3月", or a month's name or
    "3月" (its number, for the latest such cohort); None without a cohort word."""
    if not _has(q, *_COHORT_WORDS, "月"):
        return None
    if match := re.search(r"\b(20\d\d)-(\d{2})\b", q):
        return f"{match.group(1)}-{match.group(2)}"
    if match := re.search(r"(20\d\d)\s*年\s*(\d{1,2})\s*月", q):
        return f"{match.group(1)}-{int(match.group(2)):02d}"
    if match := re.search(r"(?<!\d)(\d{1,2})\s*月", q):
        return str(int(match.group(1)))
    if not _has(q, *_COHORT_WORDS):
        return None
    for number, names in enumerate(_MONTH_NAMES, start=1):
        if re.search(rf"(?<![a-zà-ÿ])(?:{'|'.join(names)})(?![a-zà-ÿ])", q):
            return str(number)
    return None


_NUMBER_WORDS = {w: n for n, words in enumerate((
    ("one", "一", "ein", "un", "uno"), ("two", "二", "两", "zwei", "deux", "dos"),
    ("three", "三", "drei", "trois", "tres"), ("four", "四", "vier", "quatre", "cuatro"),
    ("five", "五", "fünf", "cinq", "cinco"), ("six", "六", "sechs", "seis"),
    ("seven", "七", "sieben", "sept", "siete"), ("eight", "八", "acht", "huit", "ocho"),
    ("nine", "九", "neun", "neuf", "nueve"), ("ten", "十", "zehn", "dix", "diez"),
    ("eleven", "十一", "elf", "onze", "once"), ("twelve", "十二", "zwölf", "douze", "doce"),
), start=1) for w in words}


def _months(q: str) -> int | None:
    """How many months a question asks for: "last 6 months", "three months", "最近三个月",
    "letzten 6 Monate", "6 derniers mois", "últimos 6 meses"."""
    number = r"(\d{1,2}|[a-zäöüéèûñ]+|[一二两三四五六七八九十]+)"
    for match in [*re.finditer(rf"{number}\s*个?月", q), *re.finditer(
            rf"{number}\s+(?:derniers\s+)?(?:months|monate[n]?|mois|meses)\b", q)]:
        word = match.group(1)
        n = int(word) if word.isdigit() else _NUMBER_WORDS.get(word)
        if n and 2 <= n <= 36:
            return n
    return None


_ONCE_WORDS = ("one-time", "one time", "onetime", "single purchase", "only once",
               "bought once", "ordered once", "purchased once", "never came back",
               "never returned", "no second order", "with one order", "one order only",
               "only one order", "a single order", "one purchase only", "after their first",
               "beyond their first", "never ordered again", "never bought again",
               "只买过一次", "只下过一单", "一次性",
               "没有复购", "einmalkäufer", "nur einmal", "une seule fois", "une seule commande",
               "una sola vez", "un solo pedido")
_UNIT_DAYS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30,
              "year": 365, "years": 365, "tag": 1, "tage": 1, "tagen": 1, "woche": 7,
              "wochen": 7, "monat": 30, "monate": 30, "monaten": 30, "jahr": 365,
              "jahren": 365, "jour": 1, "jours": 1, "semaine": 7, "semaines": 7, "mois": 30,
              "an": 365, "ans": 365, "día": 1, "días": 1, "dia": 1, "dias": 1, "semana": 7,
              "semanas": 7, "mes": 30, "meses": 30, "año": 365, "años": 365, "天": 1, "日": 1,
              "周": 7, "星期": 7, "个月": 30, "月": 30, "年": 365}
_NO_ORDER = (r"(?:haven'?t|have not|hasn'?t|has not|didn'?t|did not|not|no|without)\s+"
             r"(?:\w+\s+)?(?:ordered|bought|purchased|order|orders|purchase|buy)"
             r"|inactive|lapsed|dormant|\b(?:gone|went|been|go|gotten)\s+(?:quiet|silent)\b"
             r"|\bgone\s+(?:for\s+)?\d"
             r"|nicht\s+(?:mehr\s+)?(?:bestellt|gekauft)|keine bestellung|ohne bestellung"
             r"|pas\s+(?:\w+\s+)?(?:commandé|acheté)|aucune commande|sans (?:commande|achat)"
             r"|sin\s+(?:comprar|pedir|pedidos?|compras?)|no\s+(?:han|ha)\s+(?:comprado|pedido)")


def _inactive_days(q: str) -> int | None:
    """How long without an order a question asks about: "haven't ordered in 6 months" (180
    days), "no order for 90 days", "inactive for 3 months", "超过90天没下单",
    "seit 3 Monaten nicht bestellt", "pas commandé depuis 2 mois", "sin comprar en 60 días"."""
    if not re.search(_NO_ORDER, q) and not re.search(r"(?:没|未)(?:有)?(?:下单|购买|买|消费)", q):
        return None
    return _span_days(q)


# The last so many days a question ranks in: "in the last 30 days", "last month", "die
# letzten 3 Monate", "les 30 derniers jours", "los últimos 90 días", "最近30天", "上个月"
_RECENT = re.compile(r"\b(?:last|past|previous|letzten|vergangenen|derni[eè]re?s?|"
                     r"[uú]ltim[oa]s?|pasad[oa])\b|最近|近|上个|过去")
_LAST_UNIT = (("week", 7), ("woche", 7), ("semaine", 7), ("semana", 7), ("周", 7),
              ("month", 30), ("monat", 30), ("mois", 30), ("mes", 30), ("月", 30),
              ("quarter", 90), ("quartal", 90), ("trimestre", 90), ("季度", 90))
# ("last year" is left out: the calendar year before, or the last 365 days?)


def _recent_days(q: str) -> int | None:
    """How many days back a question ranks in ("who bought the most in the last 30 days?":
    30, "last month": 30), or None."""
    match = _RECENT.search(q)
    if match is None:
        return None
    near = q[max(0, match.start() - 12):match.end() + 24]
    if days := _span_days(_RECENT.sub(" ", near)):  # "les 30 derniers jours": "30 jours"
        return days
    after = q[match.end():match.end() + 12]
    before = q[max(0, match.start() - 12):match.start()]  # "le mois dernier"
    return next((days for unit, days in _LAST_UNIT if unit in after or unit in before), None)


def _span_days(q: str) -> int | None:
    """The first span of time a question gives, in days: "6 months" (180), "90 days",
    "four weeks", "3 Monaten", "2 mois", "60 días", "90天"."""
    number = r"(\d{1,4}|[a-zäöüéèûñ]+|[一二两三四五六七八九十]+)"
    unit = r"(days?|weeks?|months?|years?|tag(?:en?)?|wochen?|monat(?:en?|e)?|jahr(?:en)?" \
           r"|jours?|semaines?|mois|ans?|d[ií]as?|semanas?|mes(?:es)?|años?)"
    for match in [*re.finditer(rf"{number}\s+{unit}\b", q), *re.finditer(
            rf"{number}\s*(天|日|周|星期|个月|月|年)", q)]:
        word, name = match.group(1), match.group(2)
        n = int(word) if word.isdigit() else _NUMBER_WORDS.get(word)
        if n:
            return n * _UNIT_DAYS[name]
    return None


def find_segments(text: str) -> list[str]:
    """Every segment a question names, in its order ("Champions vs Loyal Customers")."""
    pieces = re.split(r",|;|/|\band\b|\bvs\.?|\bversus\b|\bwith\b|\bto\b|\bund\b"
                      r"|\bet\b|\by\b|\bcon\b|和|与|跟|对比|比较", text, flags=re.I)
    found = [find_segment(piece) for piece in pieces]
    return list(dict.fromkeys(s for s in found if s))


_WHY_WORDS = ("why", "reason", "driver", "drives", "what causes", "cause of", "warum",
              "grund", "gründe", "pourquoi", "raison", "por qué", "motivo", "razón",
              "为什么", "原因", "为何")
_COMPARE_WORDS = ("compare", "comparison", " vs", "versus", "difference between",
                  "vergleich", "compar", "对比", "比较", "区别")
_CLUSTER_WORDS = ("cluster", "behavioural group", "behavioral group", "behaviour group",
                  "persona", "聚类", "行为分群", "verhaltensgruppe", "groupes de comportement",
                  "grupos de comportamiento")
_TREND_WORDS = ("trend", "over time", "month by month", "monthly", "per month", "each month",
                "by month", "every month", "growing", "declining", "going up", "going down",
                "last month", "this month", "letzten monat", "mois dernier", "mes pasado",
                "上个月", "本月", "which month", "what month", "best month", "worst month",
                "busiest month", "quietest month", "slowest month",
                "趋势", "每月", "月度", "按月", "verlauf", "monatlich", "pro monat", "tendance",
                "évolution", "par mois", "mensuel", "tendencia", "evolución", "por mes",
                "mensual")


# Words of a question about how a segment is doing: its row against the shop's means
_STATUS_WORDS = ("how is", "how are", "how's", "how're", "doing", "performing", "tell me about",
                 "what about", "status", "look like", "looking", "wie steht", "wie geht",
                 "wie läuft", "wie laufen", "wie sieht", "wie sehen", "erzähl", "comment va",
                 "comment vont", "comment se port", "où en", "parle-moi", "cómo está",
                 "como esta", "cómo va", "como va", "qué tal", "que tal", "háblame",
                 "怎么样", "怎样", "情况", "表现", "如何")


_ZH_NAMES = re.compile("|".join(sorted(
    [*ZH_SEGMENTS.values(), *(w for w in SEGMENT_SYNONYMS if _CHINESE.search(w))],
    key=len, reverse=True)))


# Words of a question about how often customers order again (the median gap between
# orders, in the headline numbers)
_GAP_WORDS = ("between orders", "between purchases", "how often do", "how often does",
              "come back", "comes back", "purchase cycle", "buying cycle", "reorder cycle",
              "order cycle", "repurchase cycle", "time to reorder", "wie oft bestell",
              "zwischen bestellungen", "entre deux commandes", "entre les commandes",
              "entre pedidos", "cada cuánto", "con qué frecuencia", "tous les combien",
              "à quelle fréquence", "wie oft kauf", "购买间隔", "下单间隔", "复购周期", "多久")
# Words of a question about where to start: the segments with the most revenue at risk
_FOCUS_WORDS = ("target first", "focus", "prioriti", "priority", "biggest opportunit",
                "where to start", "where should i start", "start with", "worauf",
                "anfangen", "beginnen", "konzentrieren", "commencer", "concentrer",
                "empiezo", "empezar", "centrarme", "enfocar", "prioridad", "priorit",
                "优先", "重点")


def _outright(q: str, segment: str) -> bool:
    """A segment named by its name or a telling synonym ("Neukunden", "clients fidèles"),
    not by a common word alone ("new", "lost")."""
    return segment.lower().rstrip("s") in q or any(
        (" " in words or not words.isascii() or words.endswith("kunden"))
        and re.search(rf"(?<![a-z]){re.escape(words)}", q)
        for words, name in SEGMENT_SYNONYMS.items() if name == segment)


# A campaign run from a saved plan ("plan" and "Aktion" as whole words: "explain",
# "Transaktion"), and words asking how it did
_CAMPAIGN_WORDS = ("campaign", "win-back", "coupon", "kampagne", "campagne", "campaña", "活动",
                   "方案")
_RESULT_WORDS = ("result", "success", "worked", "how did", "how has", "perform", "measure",
                 "evaluat", "impact of", "effect of", "uplift of", "paid off", "ergebnis",
                 "erfolg", "gewirkt", "funktioniert", "wie lief", "gelaufen", "résultat",
                 "succès", "a marché", "t-elle marché", "fonctionné", "resultado", "éxito",
                 "funcionó", "效果", "结果", "成功")


def _percent(q: str) -> float | None:
    """A percentage a question gives: "15%", or a Chinese discount, priced by what is paid
    (8折 is 20% off, 85折 15%, 9.5折 5%)."""
    cap = _number(r"(\d+(?:\.\d+)?)\s*%", q)
    if cap is None and (zhe := re.search(r"(?<![\d.])(\d{1,2}(?:\.\d)?)\s*折", q)):
        paid = float(zhe.group(1))
        cap = round(100 - (paid * 10 if paid < 10 else paid), 1)
    return cap


_MONEY = r"[£$€¥]?\s*(\d[\d,]*(?:\.\d+)?)\s*(k\b|千|万)?\s*" \
         r"(?:[£$€¥元]|eur\b|euros?\b|usd\b|gbp\b|dollars?\b|pounds?\b)?"
_MORE = r"(?:over|more than|above|at least|upwards of|mehr als|über|mindestens|plus de|au moins|" \
        r"más de|al menos|超过|大于|高于|至少|满)"
_SPENT = (  # "spent over 500", "spent £1k or more", "mehr als 500 € ausgegeben", "消费超过500"
    rf"\b(?:spent|spend(?:ing)?|spends)\s+(?:of\s+)?{_MORE}\s*{_MONEY}",
    rf"\b(?:spent|spend(?:ing)?)\s+{_MONEY}\s*(?:\+|or more|and more|and up|plus)",
    rf"{_MORE}\s*{_MONEY}\s*(?:ausgegeben|umsatz)",
    rf"\bumsatz\s+(?:von\s+)?{_MORE}\s*{_MONEY}",
    rf"(?:dépensé|dépensent|gastado|gastaron|gastan)\s+{_MORE}\s*{_MONEY}",
    rf"(?:消费|消费额|花费|累计消费|花了)\s*(?:了\s*)?{_MORE}?\s*{_MONEY}\s*(?:以上|及以上)?",
)


def _min_spend(q: str) -> float | None:
    """The spend to date a question sets as a floor: "who spent over 500" (500), "spent
    £1k or more" (1000), "mehr als 500 € ausgegeben", "dépensé plus de 500", "消费超过500"."""
    for pattern in _SPENT:
        if match := re.search(pattern, q):
            value = float(match.group(1).replace(",", ""))
            value *= {"k": 1000, "千": 1000, "万": 10000}.get(match.group(2) or "", 1)
            if value > 0:
                return value
    return None


def _plan_limits(q: str) -> dict[str, Any]:
    """What a question sets of a plan: its discount cap (a share), budget and channel ("by
    sms", "text customers who ...")."""
    limits: dict[str, Any] = {}
    if (cap := _percent(q)) is not None:
        limits["discount_cap"] = cap / 100
    if (budget := _number(r"(?:budget|预算)\D{0,12}?([\d,]+(?:\.\d+)?)", q)) is not None:
        limits["budget"] = budget
    for channel in ("email", "sms", "push", "app"):
        if re.search(rf"\b{channel}s?\b", q):
            limits["channel"] = channel
    if re.match(r"text\b", q) or re.search(r"\b(?:by|via|per) text\b", q):
        limits["channel"] = "sms"
    return limits


def _top(q: str) -> float | None:
    """How many customers: "top 5", "first 20", "前10", "the 20 customers", "20 loyal customers"."""
    return _number(r"(?:top|first|前)\s*(\d+)", q) or _number(
        r"(?<![\d.,%])(\d+)\s+(?:[a-z-]+\s+)?(?:customers|clients|users)", q)


# Words that name a ranking of customers, not a segment ("top customers" is not Champions)
_RANKING_NAMES = re.compile(r"\b(?:best|top)\s+(?:\d+\s+)?customers?\b|\bvips?\b"
                            r"|\bmost loyal\b|\btreueste\w*|\bplus fidèles\b"
                            r"|\bmás (?:fieles|leales)\b|最忠诚")


def _narrowed_list(q: str, segment: str | None, top: float | None, narrow: dict[str, Any],
                   audience: Mapping[str, Any]) -> Intent:
    """The customers without an order for so long, or with one order, or who spent so much:
    ranked as the question says ("top 10 by lifetime value who haven't ordered in 60
    days"), else the most revenue at risk first."""
    plain = q
    for pattern in _SPENT:  # "spent over 500" chooses; it does not rank
        plain = re.sub(pattern, " ", plain)
    risky = _has(q, *_RISK_WORDS)
    if risky:  # "which one-time buyers are most at risk?": not the segment
        segment = find_segment(re.sub(r"\b(?:are|is|be)\s+(?:most\s+|the most\s+)?at[ -]risk\b",
                                      " ", q)) or audience.get("segment")
    by = None if risky else next(
        (name for name, words in _RANKING_WORDS if _has(plain, *words)), None)
    if by is None and re.search(r"\b(?:best|top|biggest)\b", plain):
        by = "monetary"
    args: dict[str, Any] = {"top": int(top or 10)}
    if by is not None:
        words = _RANKING_NAMES.sub(" ", q)
        if "inactive_days" in narrow:  # "inactive", "lapsed" say how long, not a segment
            words = re.sub(r"\b(?:inactive|lapsed|dormant)\b", " ", words)
        segment = find_segment(words) or audience.get("segment")
        args["by"] = by
    args.update(narrow)
    if segment:
        args["segment"] = segment
    return Intent("top_customers" if by else "at_risk_customers",
                  [("top_customers" if by else "at_risk_customers", args)])


def _list_of_customers(q: str, segment: str | None, top: float | None) -> Intent | None:
    """A ranked list of customers, when the question asks for one: the at-risk list when
    it speaks of churn, else the top customers by what it names (spend by default)."""
    asks_list = _has(q, *_LIST_WORDS) or top is not None or bool(
        re.search(r"(?<!\w)(?:which|welche|quels|quelles|qué)(?!\w)(?! segment)", q)
        and segment) or bool(
        re.search(r"\b(?:which|welche|quels|quelles|qué)(?:\s+[\w-]+){1,3}\s+"
                  r"(?:customers|clients|buyers|users|kunden|clientes)\b"
                  r"|\b(?:best|top|most valuable)\s+(?:customers|clients|buyers)\b"
                  r"|哪些\w{0,8}?(?:客户|用户|顾客)", q))
    if not asks_list or _has(q, "which segment", "what segment", "welches segment",
                             "quel segment", "qué segmento", "哪个用户群", "哪个群"):
        return None
    args: dict[str, Any] = {"top": int(top or 10)}
    if _has(q, *_RISK_WORDS):
        # "which Loyal Customers / VIPs are at risk?": "at risk" says how they are, and
        # the segment is the other one named (the At Risk segment when none is)
        segment = find_segment(re.sub(r"\bat[ -]risk\b|(?<!高价值)流失风险", " ", q)) or segment
        if segment:
            args["segment"] = segment
        return Intent("at_risk_customers", [("at_risk_customers", args)])
    by = next((name for name, words in _RANKING_WORDS if _has(q, *words)), None) or (
        "monetary" if _word(q, *_RANKED_BY_SPEND) else None)
    if by is None:
        if _has(q, "which customers", "who should", "call first", "contact first"):
            return Intent("at_risk_customers", [("at_risk_customers", args)])
        return None
    # "best customers", "top customers", "VIPs" name the ranking here, not the Champions
    # segment: the shop's most valuable customers, whichever segment they are in
    named = find_segment(_RANKING_NAMES.sub(" ", q))
    args = {"top": args["top"], "by": by, **({"segment": named} if named else {})}
    if by in ("monetary", "frequency") and (days := _recent_days(q)):
        args["recent_days"] = days  # "who bought the most in the last 30 days?"
    return Intent("top_customers", [("top_customers", args)])


# What each glossary term is called (first match wins: "revenue at risk" before "churn")
_GLOSSARY_WORDS = (
    ("revenue_at_risk", ("revenue at risk", "gefährdeter umsatz", "gefährdete umsatz",
                         "chiffre d'affaires à risque", "ingresos en riesgo", "风险收入",
                         "收入风险")),
    ("expected_orders", ("expected orders", "p(alive)", "p_alive", "p alive", "probability alive",
                         "bg/nbd", "bgnbd", "erwartete bestellungen", "commandes attendues",
                         "pedidos esperados", "预期订单")),
    ("predicted_clv", ("clv", "ltv", "lifetime value", "predicted value", "kundenwert",
                       "valeur vie", "valeur client", "valor de vida", "生命周期价值",
                       "客户价值", "预测价值")),
    ("churn_probability", ("churn", "abwanderung", "attrition", "abandono", "流失")),
    ("holdout", ("holdout", "hold-out", "control group", "uplift", "kontrollgruppe",
                 "groupe témoin", "grupo de control", "对照组", "提升")),
    ("clusters", _CLUSTER_WORDS),
    ("cohort_retention", ("cohort", "retention", "repeat rate", "repeat purchase rate",
                          "kohorte", "wiederkaufrate", "cohorte", "rétention",
                          "taux de réachat", "retención", "tasa de recompra", "留存", "复购率",
                          "同期群")),
    ("rfm", ("rfm", "segments", "segmente", "segmentos", "用户群", "分群")),
)
# A question asking what a term means, not what its value is: "what does churn probability
# mean?", "how is CLV calculated?", "what is a cohort?" (the bare term: "what is our churn
# rate?" and "what are the clusters?" ask for this shop's numbers)
_DEFINING = re.compile(
    r"\bwhat does\b.*\bmean\b|\bmeaning of\b|\bdefin(?:e|ed|ition)\b|^explain\b"
    r"|\bhow (?:is|are|do you|does \w+)\b.*\b(?:calculated|computed|defined|measured|worked "
    r"out|calculate|compute|define)\b|^(?:what(?:'s| is| are)|was (?:ist|sind)|qu'est-ce que?"
    r"|qué (?:es|son))\s+(?:an?|ein|eine|der|die|das|le|la|les|l'|un|une|el|los|las)?\s*"
    r"(?P<bare>[^?¿]+?)\s*\??$"
    r"|was bedeute[tn]|wie wird\b.*\b(?:berechnet|definiert)|wie werden\b.*\b(?:berechnet"
    r"|definiert)|que signifie|comment (?:est|sont)\b.*\b(?:calcul|défini)|qué significa"
    r"|cómo se (?:calcula|define)|什么是|是什么意思|什么意思|怎么算|怎么计算|如何计算|的定义")


def _glossary_term(q: str, segment: str | None) -> str | None:
    """The glossary term a question asks the meaning of, if it asks one."""
    match = _DEFINING.search(q)
    if match is None or segment or _has(q, *_WHY_WORDS):
        return None
    bare = match.group("bare")
    for term, words in _GLOSSARY_WORDS:
        if _has(q, *words):
            if bare is not None and not re.fullmatch(
                    r"(?:rfm|churn(?: probability| risk| score)?|clv|ltv|(?:customer )?lifetime "
                    r"value|predicted (?:value|clv)|revenue at risk|expected orders|p\(alive\)"
                    r"|(?:a )?cohorts?(?: retention)?|retention|(?:a )?holdout(?: group)?"
                    r"|(?:a )?control group|uplift|(?:behaviou?ral )?clusters?|segments"
                    r"|repeat(?: purchase)? rate|kundenwert|abwanderung\w*|kohorte|cohorte"
                    r"|attrition|abandono|rétention|retención)", bare):
                return None  # "what is our churn rate?": the number, not the word
            return term
    return None


# Words for a country's people, which name a country only before a word for customers
# ("German customers"; "in German" is a language)
_DEMONYMS = {"british", "english", "irish", "american", "german", "french", "spanish",
             "dutch", "italian", "swiss", "belgian", "austrian", "portuguese", "polish",
             "swedish", "danish", "norwegian", "finnish", "greek", "australian", "canadian",
             "japanese", "chinese", "allemand", "français", "espagnol", "italiano", "español",
             "francés", "alemán", "portugais", "portugués", "britannique", "británico"}
_CUSTOMER_NOUNS = r"(?:customers?|clients?|buyers?|shoppers?|users?|kunden)"
# French and Spanish put the word after the noun, plural: "clients allemands", "clientes
# alemanes"
_NOUNS_BEFORE = r"(?:clients?|clientes?|acheteurs?|compradores?)"
# What a country named narrows: these tools take it; these others answer by country instead
_BY_COUNTRY = {"at_risk_customers", "top_customers", "top_products", "campaign_plan"}
_COUNTRY_ROWS = {"churning_segments", "shop_kpis", "clv_summary", "segment_overview"}


def _country_patterns(english: str, others: tuple[str, ...]
                      ) -> tuple[str, re.Pattern[str], re.Pattern[str] | None]:
    """How a question names a country: its names and demonyms (in the lower-cased
    question), and its codes (in the question as typed: "UK", not "us")."""
    words, codes = [], []
    for name in (english.lower(), *others):
        if _CHINESE.search(name):  # no spaces between Chinese words: "德国客户"
            words.append(re.escape(name))
        elif len(name) <= 3:
            if name.upper() in {"UK", "USA", "US", "GB"}:
                codes.append(re.escape(name.upper()))
        elif name in _DEMONYMS or name in GERMAN_DEMONYMS:
            # "German customers"; "in German" is a language
            words.append(rf"\b{re.escape(name)}\s+{_CUSTOMER_NOUNS}\b")
            plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
            forms = {name, f"{name}s", f"{name}es", f"{plain}es"}
            words.append(rf"\b{_NOUNS_BEFORE}\s+(?:{'|'.join(map(re.escape, sorted(forms)))})\b")
        else:
            words.append(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    return (english, re.compile("|".join(words)),
            re.compile(rf"(?<![\w.])(?:{'|'.join(codes)})(?![\w.])") if codes else None)


_COUNTRIES = [_country_patterns(english, others) for english, others in COUNTRY_NAMES.items()]


def _country(question: str) -> str | None:
    """The country a question names, by its English name: "customers in Germany", "German
    customers", "UK", "aus Deutschland", "德国客户"."""
    q = question.lower()
    for english, names, codes in _COUNTRIES:
        if names.search(q) or (codes is not None and codes.search(question)):
            return english
    return None


def interpret(question: str, audience: Mapping[str, Any] | None = None) -> Intent:
    """Map a question to tool calls (deterministic keyword and pattern rules); a country
    named keeps a list or a plan to its customers, or answers by country. ``audience``: the
    customers a question refers back to ("what do they buy?"; see :func:`resolve`), its
    segment, country, days without an order, one-time buyers or customer id, for what the
    question does not name itself."""
    audience = audience or {}
    intent = _interpret(question, audience)
    country = _country(question) or audience.get("country")
    if country is None or not intent.calls:
        return intent
    name, args = intent.calls[0]
    if name in _BY_COUNTRY:
        return Intent(intent.kind, [(name, {**args, "country": country})])
    if name in _COUNTRY_ROWS and not args.get("segments"):  # "the churn rate in France"
        return Intent("breakdown", [("breakdown", {"by": "country"})])
    return intent


def _interpret(question: str, audience: Mapping[str, Any]) -> Intent:
    """Map a question to tool calls (deterministic keyword and pattern rules)."""
    q = question.lower()
    segment = find_segment(question) or audience.get("segment")
    customer = _customer_id(question) or audience.get("customer_id")
    top = _top(q)
    cap = _percent(q)
    if not customer and (term := _glossary_term(q, segment)):
        return Intent("glossary", [("glossary", {"term": term})])
    inactive = _inactive_days(q)
    if inactive:  # "inactive", "lapsed", "dormant" say how long here, not a segment
        segment = find_segment(re.sub(r"\b(?:inactive|lapsed|dormant)\b", " ", q)) \
            or audience.get("segment")
    inactive = inactive or audience.get("inactive_days")
    once = _has(q, *_ONCE_WORDS) or bool(audience.get("one_order_only"))  # one-time buyers
    spend = _min_spend(q) or audience.get("min_spend")  # who spent at least so much
    bought = _bought_product(question) or audience.get("product")  # who bought a product
    suggest = _suggested_product(question)  # a product to cross-sell
    # a coupon or discount for a segment, or for who has not ordered for so long, or only
    # once, or spent so much, or for the customers of a country referred to ("send them a
    # coupon"): the plan sets the depth and says why
    offer = bool(segment or inactive or once or spend or bought or audience.get("country")
                 ) and (_has(
        q, "coupon", "discount", "voucher", "offer", "send ", "give ", "% off", "gutschein",
        "rabatt", "remise", "réduction", "cupón", "descuento", "优惠券", "折扣", "优惠")
        or bool(re.match(r"(?:e-?mail|sms|text|message|contact|reach out to|target)\b", q))
    ) and not _has(q, "how do", "how to", "how can", "design", "abuse", "如何", "怎么") and not (
        re.search(r"\b(?:send|give|show|e-?mail|text)\s+(?:me|us)\b", q))  # "send me the list"
    # a message to write for a segment ("design a retention email for new customers")
    offer = offer or (bool(segment) and _has(
        q, "email", "e-mail", "sms", "newsletter", "message") and _has(
        q, "design", "write", "create", "compose", "make") and not _has(
        q, "how do", "how to", "how can", "如何", "怎么"))
    if _has(q, "measure", "evaluat", "衡量", "评估", "messe", "mesur", "medir", "mido") and _has(
            q, "how do", "how to", "how can", "how should", "wie ", "comment", "cómo",
            "como ", "如何", "怎么") and _has(q, *_CAMPAIGN_WORDS, "promotion", "offer",
                                            "email", "e-mail", "newsletter", "aktion"):
        # how to measure a campaign: the playbook says (how one did: campaign_results)
        return Intent("playbook_search", [("playbook_search", {
            "query": question, **({"segment": segment} if segment else {})})])
    if _has(q, *_CHANNEL_ADVICE) and not _has(  # "which channel works best for win-back?"
            q, "draft", "create", "write", "make a", "plan for", "erstelle", "entwirf",
            "crée", "crea ", "设计", "制定"):
        return Intent("playbook_search", [("playbook_search", {
            "query": question, **({"segment": segment} if segment else {})})])
    if (_has(q, *_CAMPAIGN_WORDS) or _word(q, "plan", "aktion")) and (_has(
            q, *_RESULT_WORDS) or re.search(
            r"\b(?:did|has|have)\b.*\b(?:work|succeed|pay off|help)", q)) and not _has(
            q, "expect", "would", "will", "could", "should", "how do", "how to", "how can",
            "如何衡量", "怎么衡量"):  # how a saved plan did (not how to measure one)
        plan = _number(r"(?:\bplan|方案)\s*(?:#|no\.?|number|nr\.?|n°)?\s*(\d+)", q)
        return Intent("campaign_results", [("campaign_results",
                                            {"plan_id": int(plan)} if plan else {})])
    if offer or _has(q, "campaign", "win-back", "winback", "win back", "draft", "plan for",
                     "kampagne", "campagne", "campaña", "活动", "召回", "方案") or (
            suggest and _has(q, "cross-sell", "cross sell", "crosssell")):
        args: dict[str, Any] = {"segment": segment or "At Risk"}
        if suggest and not segment:  # a cross-sell needs no segment: whoever lacks it
            args = {}
        if inactive or once:  # "a coupon for customers who haven't ordered in 90 days"
            args = {**({"inactive_days": inactive} if inactive else {}),
                    **({"one_order_only": True} if once else {}),
                    **({"segment": segment} if segment else {})}
        if spend:  # "... who spent over 500": of the segment, or of those chosen
            args["min_spend"] = spend
        if bought:  # "... who bought the Portable Charger": so too
            args["product"] = bought
        if suggest:  # "cross-sell P0311 to buyers of P0307"
            args["suggest"] = suggest
        args.update(_plan_limits(q))
        if (lang := language(question)) != "en":  # the message copy in the shop's language
            args["language"] = lang
        return Intent("campaign_plan", [("campaign_plan", args)])
    if customer and _has(q, "recommend", "推荐"):
        return Intent("recommendations", [("recommendations", {"customer_id": customer})])
    if customer:
        return Intent("customer_profile", [("customer_profile", {"customer_id": customer})])
    if _has(q, *_WHY_WORDS) and (segment or _has(q, *_RISK_WORDS)):
        return Intent("churn_drivers", [("churn_drivers",
                                         {"segment": segment} if segment else {})])
    if _has(q, *_COMPARE_WORDS) and len(segments := find_segments(question)) >= 2:
        return Intent("segment_overview", [("segment_overview", {"segments": segments})])
    if _has(q, *_QUALITY_WORDS) and not _has(q, "coupon", "experiment"):
        return Intent("model_quality", [("model_quality", {})])
    if _has(q, "a/b", "ab test", "a-b", "sample size", "holdout", "experiment", "样本", "实验"):
        args = {"segment": segment or "At Risk"}
        # "a 3 point lift", "3 percentage points", "3pp" are shares too
        points = _number(r"(\d+(?:\.\d+)?)\s*-?\s*(?:(?:percentage[- ]points?|points?|pts?|pp)"
                         r"\b|个?百分点)", q)
        if cap is not None or points is not None:
            args["uplift"] = (cap if cap is not None else points) / 100
        return Intent("ab_test_plan", [("ab_test_plan", args)])
    if together := _together(q, question):
        return together
    if trend := _product_trend(q, segment):
        return trend
    if _concentration(q):
        return Intent("shop_kpis", [("shop_kpis", {})])
    counting = _has(q, "how many", "how much", "wie viele", "combien", "cuánt", "多少")
    # "复购率怎么样？" asks how the repeat rate is, not how to do something
    acting = re.sub(r"(?:怎么样|怎样|如何)[\s？?。!！]*$", "", q)
    if not counting and (_how_to(acting) or _word(q, "idea", "tip")):
        args = {"query": question}
        if segment:
            args["segment"] = segment
        return Intent("playbook_search", [("playbook_search", args)])
    if by := _dimension(q, question, segment):
        return by
    narrow = {**({"inactive_days": inactive} if inactive else {}),
              **({"one_order_only": True} if once else {}),
              **({"min_spend": spend} if spend else {}),
              **({"product": bought} if bought else {}),
              **({"not_bought": suggest} if suggest else {})}
    if products := _products(q, segment, _country(question) or audience.get("country"),
                             narrow):
        return products
    if narrow:  # who has not ordered for so long, or only once, or spent so much
        return _narrowed_list(q, segment, top, narrow, audience)
    if listed := _list_of_customers(q, segment, top):
        return listed
    if _has(q, *_GAP_WORDS):  # how often customers come back: the headline numbers say
        return Intent("shop_kpis", [("shop_kpis", {})])
    if _has(q, *_FOCUS_WORDS) and not segment:  # where to start: the most revenue at risk
        return Intent("churning_segments", [("churning_segments", {})])
    if _has(q, "churn", "revenue at risk", "losing", "流失", "at risk", *_CHURN_ELSEWHERE) or (
            re.search(r"\b(?:will|going to|could|might|may|about to)\b[^.?!]*\blose\b"
                      r"|\bwerden\b[^.?!]*\bverlieren\b|\b(?:allons|allez|vont|va)\b[^.?!]*"
                      r"\bperdre\b|\b(?:vamos|van|va)\s+a\s+perder\b", q)):
        # losses ahead ("how many will we lose?"; "did we lose" is the lapsed customers')
        args = {"segment": segment} if segment else {}  # "the churn rate of Champions"
        if _has(q, *_CLUSTER_WORDS):
            args = {"by": "cluster"}
        return Intent("churning_segments", [("churning_segments", args)])
    if _has(q, *_CLUSTER_WORDS):
        return Intent("segment_overview", [("segment_overview", {"by": "cluster"})])
    if _has(q, "grew", "grow", "shrank", "shrink", "gained", "增长", "减少最多", "gewachsen",
            "geschrumpft", "a grandi", "grandi", "creció", "crecido") and _has(
            q, "segment", "用户群", "群"):  # the overview, the most grown first
        return Intent("segment_overview", [("segment_overview", {"order": "change"})])
    if _has(q, "each segment", "per segment", "by segment", "every segment", "all segments",
            "jedem segment", "pro segment", "chaque segment", "par segment", "cada segmento",
            "por segmento", "每个用户群", "各用户群", "各个用户群"):
        return Intent("segment_overview", [("segment_overview", {})])
    new_customers = _has(q, "new customers", "neukunden", "nouveaux clients",
                         "clientes nuevos", "新客", "新增", "新用户")
    # one segment's place in the shop: its share, or how many customers it holds
    if segment and (_has(q, "share", "how big", "how large", "size of", "anteil", "part ",
                         "cuota", "占") or (counting and not new_customers and not _has(
                             q, "much", "order", "revenue", "sales", "spen", "value", "worth",
                             "clv", "ltv", "bestell", "umsatz", "wert", "commande", "valeur",
                             "pedido", "ventas", "valor", "订单", "收入", "销售", "价值"))):
        return Intent("segment_overview", [("segment_overview", {"segments": [segment]})])
    if _has(q, "how many customers", "number of customers", "wie viele kunden",
            "combien de clients", "cuántos clientes", "多少客户", "多少用户") and not _has(
            q, "segment", "用户群") and not new_customers:
        return Intent("shop_kpis", [("shop_kpis", {})])  # with the repeat rate, if asked
    if _has(q, "cohort", "retention", "retain", "repeat", "buy again", "order again",
            "second order", "second purchase", "reorder", "re-order", "zweite bestellung",
            "deuxième commande", "segunda compra", "segundo pedido", "二次购买", "第二单",
            "purchase again", "more than once", "twice", "zweimal", "deux fois", "dos veces",
            "kohorte", "wiederkauf",
            "rétention", "retención", "recompra", "réachat", "留存", "复购", *_COHORT_WORDS):
        month = _cohort_month(q)
        rank = None if month else "worst" if _has(
            q, "worst", "lowest", "weakest", "least", "schlechteste", "pire", "peor", "最差",
            "最低") else "best" if _has(q, "best", "highest", "strongest", "top cohort",
                                        "beste", "meilleure", "mejor", "最好", "最高") else None
        return Intent("cohort_retention", [("cohort_retention",
                                            {"cohort": month} if month else
                                            {"rank": rank} if rank else {})])
    months = _months(q)
    if _has(q, *_TREND_WORDS) or (counting and new_customers) or (
            months and _has(q, *_KPI_WORDS, "order", "customers", "订单", "销量", "客户")):
        # "revenue over the last 6 months", "近6个月的订单数"
        return Intent("monthly_trend", [("monthly_trend",
                                         {"months": months} if months else {})])
    # "价值" in a segment's Chinese name (重要价值客户) asks for no value
    if _has(_ZH_NAMES.sub(" ", q), "lifetime value", "clv", "ltv", "worth", "kundenwert",
            "valeur vie", "valeur client", "valor de vida", "生命周期", "价值"):
        args = {"segment": segment} if segment else {}
        return Intent("clv_summary", [("clv_summary", args)])
    if segment and _has(q, "average order", "order value", "aov", "basket size",
                        "orders per customer", "bestellwert", "panier moyen", "ticket medio",
                        "客单价"):  # "the average order value of Champions": its row
        return Intent("segment_overview", [("segment_overview", {"segments": [segment]})])
    if _has(q, *_KPI_WORDS) or (counting and _has(
            # "how much did customers spend?"
            q, "spend", "spent", "ausgegeben", "dépensé", "gastado", "gastaron", "消费")):
        return Intent("shop_kpis", [("shop_kpis", {})])
    # a segment named outright, by its name or as a segment ("what's new?", "I'm lost" and
    # "the potential" ask about no segment's numbers)
    named = find_segments(question) if segment else []
    if not (_has(q, "segment", "用户群") or all(_outright(q, name) for name in named)
            or _CHINESE.search(q)):
        named = []
    if segment and not named and segment == audience.get("segment"):  # "how are they doing?"
        named = [segment]
    if named and _has(q, *_STATUS_WORDS):  # "how are the Champions doing?": their rows
        return Intent("segment_overview", [("segment_overview", {"segments": named})])
    if _word(q, "how", "idea", "tip") or _has(q, "best practice", "playbook", "coupon",
                                              "loyalty", "best day", "best time",
                                              "when should", "when to", "如何", "怎么",
                                              "优惠券", "积分"):
        args = {"query": question}
        if segment:
            args["segment"] = segment
        return Intent("playbook_search", [("playbook_search", args)])
    if named:  # "Champions", "and Hibernating?", "show me the Lost segment": its row
        return Intent("segment_overview", [("segment_overview", {"segments": named})])
    if _has(q, "segment", "overview", "summary", "summari", "customers", "übersicht",
            "aperçu", "resumen", "分群", "概览"):
        return Intent("segment_overview", [("segment_overview", {})])
    return Intent("help")


# Follow-ups: a question that changes only the segment, the limits or the size of the one
# before ("and for Hibernating?", "make it 10% off", "by sms instead", "top 20")
_FOLLOW_UP = re.compile(r"^(?:and|what about|how about|same for|same|now|also|instead|then|"
                        r"only|just|und|et|y|was ist mit|und für|et pour|y para|et si|nur|"
                        r"seulement|solo|solamente)\b")
_FOLLOW_UP_ZH = ("那", "还有", "再", "换成", "改成", "如果是")
_NARROWING = re.compile(r"^(?:but\s+)?(?:only|just|nur|seulement|solo|solamente)\b")
_BARE_SIZE = re.compile(r"(?:top|first|only|just|show)?\s*\d+\s*(?:customers|products|rows)?"
                        r"\s*[?.!]?")  # "top 20", "only 5"
_SEGMENT_TOOLS = {"churning_segments", "churn_drivers", "at_risk_customers", "top_customers",
                  "top_products", "clv_summary", "ab_test_plan", "playbook_search",
                  "campaign_plan"}
_TOP_TOOLS = {"at_risk_customers", "top_customers", "top_products"}
_AUDIENCE_TOOLS = {"at_risk_customers", "top_products", "campaign_plan"}
_HISTORY_QUESTIONS = 6  # how many earlier questions a chain of follow-ups reaches back


def _follow_up(previous: tuple[str, dict[str, Any]], question: str
               ) -> tuple[str, dict[str, Any]] | None:
    """The previous tool call with what ``question`` changes, or None if it changes nothing
    that call takes."""
    name, args = previous[0], dict(previous[1])
    q = question.lower()
    before = dict(args)
    if segments := find_segments(question):
        if name == "segment_overview":
            args = {"segments": segments}
        elif name in _SEGMENT_TOOLS:
            args["segment"] = segments[0]
    if name in _BY_COUNTRY and (country := _country(question)):  # "and for France?"
        args["country"] = country
    if name in _TOP_TOOLS and (top := _top(q) or _number(r"^\s*(?:only\s+)?(\d+)\b", q)):
        args["top"] = int(top)
    if name in ("monthly_trend", "cohort_retention") and (months := _months(q)):
        args["months"] = months
    if name in _AUDIENCE_TOOLS and (inactive := _inactive_days(q)):
        args["inactive_days"] = inactive
    elif "inactive_days" in args and (days := _span_days(q)):  # "make it 4 months"
        args["inactive_days"] = days
    if name == "top_customers" and "recent_days" in args and (
            days := _recent_days(q) or _span_days(q)):  # "and the last 90 days?"
        args["recent_days"] = days
    if name in _AUDIENCE_TOOLS and (spend := _min_spend(q)):  # "only those who spent over 1k"
        args["min_spend"] = spend
    if name in _AUDIENCE_TOOLS and (bought := _bought_product(question)):
        args["product"] = bought  # "only those who bought P0307"
    if name == "bought_together" and (
            found := re.search(r"\b(?:with|for|mit|avec|con|für|pour|para)\s+(.+?)\s*[?？.!]*$"
                               r"|(?:和|与|跟)\s*(.+?)\s*(?:呢|一起)?[?？]*$", question, re.I)):
        args["product"] = (found.group(1) or found.group(2)).strip()  # "and with P0311?"
    if name == "bought_together" and _has(q, "lift", "above chance", "strongest"):
        args["by"] = "lift"
    if name == "campaign_plan":
        args.update(_plan_limits(q))
        if args != before and (lang := language(question)) != "en":
            args["language"] = lang
    return (name, args) if args != before else None


# Words that refer back to the customers of the answer before ("what do they buy?", "send
# them a coupon", "warum gehen sie?"); German "sie" and "ihnen" in lower case only ("Sie",
# "Ihnen": the polite "you")
_BACK = re.compile(r"\b(?:they|them|their|these|those|ils|elles|eux|leurs?|ellos|ellas|"
                   r"estos|esos|estas|esas|diese[nm]?|denen)\b|他们|她们|这些|那些|这批", re.I)
_BACK_DE = re.compile(r"\b(?:sie|ihnen|ihre[nmrs]?)\b")


def _audience(call: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """Whose numbers a tool call gave: its segment (or its one segment of an overview),
    country, days without an order, one-time buyers, customer id."""
    name, args = call
    audience = {key: args[key] for key in ("segment", "country", "inactive_days",
                                            "one_order_only", "min_spend", "product",
                                            "customer_id")
                if args.get(key)}
    if name == "segment_overview" and len(args.get("segments") or []) == 1:
        audience["segment"] = args["segments"][0]
    return audience


def resolve(questions: Sequence[str]) -> Intent:
    """The intent of the last of ``questions`` (a session's, oldest first), reading a
    follow-up ("and for Hibernating?", "make it 10% off") as the question before it with
    what it changes, and a question about "them" ("what do they buy?", "send them a
    coupon") as about the customers of the one before (what it does not name itself); any
    other question is read alone (:func:`interpret`)."""
    current: Intent = Intent("help")
    for question in questions[-_HISTORY_QUESTIONS:]:
        q = question.strip().lower()
        audience = _audience(current.calls[0]) if current.calls and (
            _BACK.search(question) or _BACK_DE.search(question)) else {}
        # "what do they buy?": the customers of the answer before; "only those who spent
        # over 1k" narrows the answer before instead
        if audience and not _NARROWING.match(q) and (
                about := interpret(question, audience)).calls:
            current = about
            continue
        intent = interpret(question)
        asks_on = not intent.calls or _FOLLOW_UP.match(q) or q.startswith(_FOLLOW_UP_ZH) \
            or _BARE_SIZE.fullmatch(q)
        changed = _follow_up(current.calls[0], question) \
            if asks_on and current.calls else None
        current = Intent(changed[0], [changed]) if changed else intent
    return current


@cache
def _templates(lang: str = "en") -> dict[str, str]:
    return prompt_sections("offline_answers", lang)


def _scope(segment: str, lang: str, inside: str = "in_segment", country: str | None = None,
           spend: float | None = None, matching: str | None = None) -> str:
    """Whose numbers: "overall", "in Champions", "from Germany" for one country's customers
    ("in Champions from Germany"), and "who spent 500 or more" (with ``matching``: how
    many, when the sentence does not say)."""
    amount = amount_text(spend) if spend else ""
    if segment != "all":
        scope = say(lang, inside, segment=segment_name(segment, lang)) + _from(country, lang)
    elif inside == "among" and country:  # "among customers from Germany"
        scope = say(lang, "among_from", country=_place(country, lang))
    elif country or spend:
        scope = say(lang, "from_country", country=_place(country, lang)) if country else ""
    else:
        scope = say(lang, "overall")
    if spend:
        spent = say(lang, "spent_matching" if matching else "spent_at_least", amount=amount,
                    matching=matching)
        scope = scope + spent if lang == "zh" or not scope else f"{scope} {spent}"
    return scope


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _table(rows: list[dict[str, Any]], columns: dict[str, str], lang: str = "en") -> str:
    head = ("| " + " | ".join(word(lang, c) for c in columns.values()) + " |\n|"
            + "---|" * len(columns))
    lines = []
    for row in rows:
        cells = []
        for key in columns:
            value = row.get(key)
            if isinstance(value, float) and key.endswith("probability_change"):
                value = say(lang, "points", value=value * 100)
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
    return say(lang, "change", signed=f"{'+' if n >= 0 else ''}{n}", days=days,
                direction="增加" if n >= 0 else "减少", count=f"{abs(n):,}")


def _answer_churning(r: dict[str, Any], lang: str = "en") -> str:
    focus = r.get("focus")
    top = focus or r["segments"][0]
    change = _change(top, r.get("change_over_days"), lang)
    table = _table(r["segments"][:6], _CHURN_COLUMNS, lang)
    if focus:
        rank = focus["rank"]
        text = _templates(lang)["churning_segment"].format(
            segment=segment_name(focus["segment"], lang), horizon_days=r["horizon_days"],
            churn=_pct(focus["mean_churn_probability"]), customers=f"{focus['customers']:,}",
            change=change, expected=f"{focus['expected_churners']:,}",
            revenue_at_risk=_money(focus["revenue_at_risk"]),
            rank=rank if lang != "en" else "" if rank == 1 else f"{_ordinal(rank)} ",
            segments=len(r["segments"]), shop_churn=_pct(r["mean_churn_probability"]),
            total_risk=_money(r["total_revenue_at_risk"]))
        return text + "\n\n" + table
    text = _templates(lang)["churning_segments"].format(
        segment=segment_name(top["segment"], lang), revenue_at_risk=_money(top["revenue_at_risk"]),
        horizon_days=r["horizon_days"], churn=_pct(top["mean_churn_probability"]),
        customers=f"{top['customers']:,}", change=change,
        total_risk=_money(r["total_revenue_at_risk"]),
        shop_churn=_pct(r["mean_churn_probability"]), expected=f"{r['expected_churners']:,}",
        all_customers=f"{r['customers']:,}")
    return text + "\n\n" + table


_CHURN_COLUMNS = {"segment": "segment", "customers": "customers",
                  "mean_churn_probability": "mean churn", "revenue_at_risk": "revenue at risk",
                  "mean_churn_probability_change": "churn change"}


def _answer_clusters(r: dict[str, Any], lang: str = "en") -> str:
    text = _templates(lang)["cluster_overview"].format(
        as_of=r["as_of"], customers=f"{r['customers']:,}", k=len(r["segments"]),
        horizon_days=r["horizon_days"])
    rows = [{**row, "label": cluster_label(row["label"], lang)} for row in r["segments"]]
    return text + "\n\n" + _table(rows, {
        "segment": "cluster", "label": "how they buy", "customers": "customers",
        "revenue_share": "revenue share", "mean_churn_probability": "mean churn",
        "revenue_at_risk": "revenue at risk", "mean_predicted_clv": "mean CLV"}, lang)


def _answer_overview(r: dict[str, Any], lang: str = "en") -> str:
    if r.get("by") == "cluster":
        return _answer_clusters(r, lang)
    if r.get("compared") and len(r["segments"]) == 1:
        return _answer_segment(r, lang)
    names = [f"**{segment_name(row['segment'], lang)}**" for row in r["segments"]]
    text = _templates(lang)["segment_comparison" if r.get("compared") else "segment_overview"
                            ].format(as_of=r["as_of"], customers=f"{r['customers']:,}",
                                     horizon_days=r["horizon_days"],
                                     names=("、" if lang == "zh" else ", ").join(names))
    rows = [{**row, "customers_change": f"{row['customers_change']:+,}"}
            if row.get("customers_change") is not None else row for row in r["segments"]]
    days = r.get("change_over_days")
    changed = {"customers_change": say(lang, "change_in_days", days=days)} \
        if days and any("customers_change" in row for row in rows) else {}
    return text + "\n\n" + _table(rows, {
        "segment": "segment", "customers": "customers", **changed,
        "revenue_share": "revenue share", "mean_churn_probability": "mean churn",
        "revenue_at_risk": "revenue at risk", "mean_predicted_clv": "mean CLV"}, lang)


def _answer_segment(r: dict[str, Any], lang: str = "en") -> str:
    """One segment against the shop: its size and change, revenue, churn and value."""
    row = r["segments"][0]
    return _templates(lang)["segment_one"].format(
        segment=segment_name(row["segment"], lang), as_of=r["as_of"],
        customers=f"{row['customers']:,}", customer_share=_pct(row["customer_share"]),
        change=_change(row, r.get("change_over_days"), lang),
        revenue_share=_pct(row["revenue_share"]), horizon_days=r["horizon_days"],
        churn=_pct(row["mean_churn_probability"]),
        shop_churn=_pct(r.get("mean_churn_probability")),
        revenue_at_risk=_money(row["revenue_at_risk"]),
        clv=_money(row["mean_predicted_clv"]), shop_clv=_money(r.get("mean_predicted_clv"))
    ) + ("" if row.get("avg_order_value") is None else " " + _templates(lang)[
        "segment_orders"].format(aov=_money(row["avg_order_value"]),
                                 shop_aov=_money(r.get("avg_order_value")),
                                 orders=f"{row['orders_per_customer']:.2f}",
                                 shop_orders=f"{r.get('orders_per_customer') or 0:.2f}"))


def _answer_drivers(r: dict[str, Any], lang: str = "en") -> str:
    texts, h = _templates(lang), r["horizon_days"]
    scope = (say(lang, "all_customers") if r["segment"] == "all"
             else segment_name(r["segment"], lang))
    text = texts["churn_drivers"].format(
        scope=scope, horizon_days=h, customers=f"{r['customers']:,}",
        revenue_at_risk=_money(r["revenue_at_risk"]), churn=_pct(r["mean_churn_probability"]))
    rows = [{**row, "driver": say(lang, f"driver_{row['driver']}", h=h)} for row in r["drivers"]]
    parts = [text, _table(rows, {"driver": "warning sign", "customers": "customers",
                                 "share": "share of customers",
                                 "mean_churn_probability": "mean churn",
                                 "revenue_at_risk": "revenue at risk"}, lang)]
    if any(row["driver"] == "usual_pace" for row in r["drivers"]):
        parts.append(texts["churn_drivers_pace"].format(horizon_days=h))
    return "\n\n".join(parts)


def _answer_at_risk(r: dict[str, Any], lang: str = "en") -> str:
    counted = r.get("inactive_days") or r.get("one_order_only")  # the sentence says how many
    scope = _scope(r["segment"], lang, country=r.get("country"), spend=r.get("min_spend"),
                   matching=None if counted else f"{r['customers_in_scope']:,}")
    if r.get("inactive_days") and r.get("one_order_only"):  # both: say the one-time too
        scope += "（" + say(lang, "one_time_audience") + "）" if lang == "zh" \
            else " (" + say(lang, "one_time_audience") + ")"
    for key in ("product", "not_bought"):  # "who bought P0307 (Portable Charger)"
        if r.get(key):
            bought = say(lang, "bought_scope" if key == "product" else "not_bought_scope",
                         product=_product_text(r[key]))
            scope = bought if scope == say(lang, "overall") else \
                (bought + scope if lang == "zh" else f"{scope} {bought}")
    text = _templates(lang)["at_risk_inactive" if r.get("inactive_days") else
                            "at_risk_once" if r.get("one_order_only") else
                            "at_risk_customers"].format(
        n=len(r["customers"]), scope=scope, horizon_days=r["horizon_days"],
        days=r.get("inactive_days"), matching=f"{r['customers_in_scope']:,}")
    rows = [{**row, "churn_reasons": reasons(row.get("churn_reasons"), lang)}
            for row in r["customers"]]
    return text + "\n\n" + _table(rows, {
        "customer_id": "customer", "rfm_segment": "segment",
        "churn_probability": "churn probability", "revenue_at_risk": "revenue at risk",
        **({"monetary": "spend to date"} if r.get("min_spend") else {}),
        "churn_reasons": "why"}, lang)


_CRITERIA = {"predicted_clv": "predicted value over the next {h} days",
             "recent_spend": "spend in the last {d} days",
             "recent_orders": "orders in the last {d} days",
             "monetary": "spend to date", "frequency": "number of orders",
             "avg_order_value": "average order value",
             "revenue_at_risk": "revenue at risk over the next {h} days",
             "churn_probability": "churn probability over the next {h} days",
             "expected_orders": "expected orders over the next {h} days"}


def _from(country: str | None, lang: str) -> str:
    """" from Germany" after a list's scope, when it is one country's customers."""
    if not country:
        return ""
    return ("" if lang == "zh" else " ") + say(lang, "from_country",
                                               country=_place(country, lang))


# French says "from" as the country's gender and first letter want: "d'Allemagne",
# "du Royaume-Uni", "des Pays-Bas"; a country not listed is "du pays ..."
_FRENCH_FROM = {"Royaume-Uni": "du", "États-Unis": "des", "Pays-Bas": "des", "Portugal": "du",
                "Danemark": "du", "Canada": "du", "Japon": "du", "France": "de",
                "Suisse": "de", "Belgique": "de", "Pologne": "de", "Suède": "de",
                "Norvège": "de", "Finlande": "de", "Grèce": "de", "Chine": "de"}


def _place(country: str, lang: str) -> str:
    """A country after "from": "the United Kingdom", "Deutschland", French "d'Allemagne"
    (the preposition too)."""
    name = country_name(country, lang)
    if lang == "en" and re.match(r"(?:United |Netherlands$|USA$|Channel Islands$|Czech "
                                 r"Republic$|Philippines$|European)", name):
        return f"the {name}"
    if lang == "fr":
        if name == country and name not in _FRENCH_FROM:  # not translated: the data's name
            return f"du pays {name}"
        article = _FRENCH_FROM.get(name, "d'" if name[:1] in "AEIOUÉ" else "de")
        return f"d'{name}" if article == "d'" else f"{article} {name}"
    return name


def _answer_top(r: dict[str, Any], lang: str = "en") -> str:
    criterion = word(lang, _CRITERIA[r["by"]]).format(h=r["horizon_days"],
                                                       d=r.get("recent_days"))
    narrowed = r.get("inactive_days") or r.get("one_order_only") or r.get("min_spend") \
        or r.get("product") or r.get("not_bought")
    name = _audience_name(r, r["segment"], lang)  # "(no order for 60+ days, spent 1,000+)"
    text = _templates(lang)["top_customers"].format(
        n=len(r["customers"]), scope=(f"（{name}）" if lang == "zh" else f"({name})")
        if narrowed else _scope(r["segment"], lang, country=r.get("country")),
        criterion=criterion)
    labels = {"customer_id": "customer", "rfm_segment": "segment",
              "predicted_clv": "predicted value", "monetary": "spend to date",
              "frequency": "orders", "avg_order_value": "average order",
              "churn_probability": "churn probability", "revenue_at_risk": "revenue at risk",
              "expected_orders": "expected orders",
              "recent_spend": "spend in the last {d} days",
              "recent_orders": "orders in the last {d} days"}
    rows = [{**row, **{k: f"{row[k]:,.0f}" for k in ("frequency", "recent_orders")
                       if row.get(k) is not None}} for row in r["customers"]]
    # the tool's columns, the ranking's first
    table = _table(rows, {c: labels[c] for c in (rows[0] if rows else [])}, lang)
    return text + "\n\n" + table.replace("{d}", str(r.get("recent_days")))


def _answer_kpis(r: dict[str, Any], lang: str = "en") -> str:
    active = "" if r.get("active_customers") is None else say(
        lang, "active", n=f"{r['active_customers']:,}", days=r["active_days"])
    lapsed = "" if r.get("lapsed_customers") is None else say(
        lang, "lapsed", n=f"{r['lapsed_customers']:,}", window=r["lapsed_window_days"])
    gap = "" if r.get("median_days_between_orders") is None else say(
        lang, "gap", days=f"{r['median_days_between_orders']:,.0f}",
        n=f"{r['repeat_customers']:,}")
    return _templates(lang)["shop_kpis"].format(
        first_order=r["first_order"], last_order=r["last_order"],
        customers=f"{r['customers']:,}", orders=f"{r['orders']:,}",
        revenue=_money(r["revenue"]), avg_order_value=_money(r["avg_order_value"]),
        orders_per_customer=f"{r['orders_per_customer']:.2f}",
        repeat=_pct(r["repeat_purchase_rate"]), active=active, lapsed=lapsed, gap=gap,
        horizon_days=r["horizon_days"], predicted_revenue=_money(r["predicted_revenue"]),
        revenue_at_risk=_money(r["revenue_at_risk"])) + (
        "" if r.get("revenue_share_top_10pct") is None else " " + _templates(lang)[
            "shop_concentration"].format(top10=_pct(r["revenue_share_top_10pct"]),
                                         top20=_pct(r["revenue_share_top_20pct"]),
                                         p10="10%", p20="20%"))  # "10 %" in French


_PRODUCT_CRITERIA = {"revenue": "revenue", "customers": "number of customers",
                     "orders": "number of orders", "quantity": "units sold"}


def _answer_products(r: dict[str, Any], lang: str = "en") -> str:
    narrowed = r.get("inactive_days") or r.get("one_order_only") or r.get("min_spend") \
        or r.get("product") or r.get("not_bought")
    recent = r.get("recent_days")  # "what sold best last month?"
    text = _templates(lang)["top_products_recent" if recent else "top_products"].format(
        n=len(r["products"]),  # "among customers (no order for 90+ days, Germany)"
        scope=say(lang, "among_audience", audience=_audience_name(r, r["segment"], lang))
        if narrowed else _scope(r["segment"], lang, "among", r.get("country")),
        criterion=word(lang, _PRODUCT_CRITERIA[r["by"]]), days=recent, since=r.get("since"),
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
        text += "\n\n" + say(lang, "left_out", codes=f"{left_out['codes']:,}",
                              revenue=_money(left_out["revenue"]))
    return text


def _answer_product_trend(r: dict[str, Any], lang: str = "en") -> str:
    templates, by = _templates(lang), r["by"]

    def amount(value: float, signed: bool = False) -> str:
        if by == "revenue":
            return f"{value:+,.2f}" if signed else _money(value)
        return f"{value:+,.0f}" if signed else f"{value:,.0f}"

    now, before = r["recent"][by], r["before"][by]
    words = {"scope": _scope(r["segment"], lang, "among", r.get("country")),
             "moved": say(lang, f"moved_{r['direction']}"),
             "criterion": word(lang, _PRODUCT_CRITERIA[by]), "days": r["days"],
             "first_day": r["recent"]["first_day"], "last_day": r["recent"]["last_day"]}
    if not r["products"]:
        text = templates["product_trend_none"].format(**words)
    else:
        text = templates["product_trend"].format(
            n=len(r["products"]), before_first=r["before"]["first_day"],
            before_last=r["before"]["last_day"], total=amount(now),
            total_before=amount(before),
            total_change=f"{(now - before) / before:+.1%}" if before else amount(now - before,
                                                                                 True),
            rising=f"{r['products_rising']:,}", falling=f"{r['products_falling']:,}",
            **words)
    if not r["before_complete"]:
        text += "\n\n" + templates["product_trend_short"].format(
            first_order=r["first_order"], days=r["days"])
    if not r["products"]:
        return text
    rows = [{**row, by: amount(row[by]), "before": amount(row[f"{by}_before"]),
             "change": amount(row["change"], True),
             "change %": say(lang, "new_product") if row["change_share"] is None
             else f"{row['change_share']:+.1%}"} for row in r["products"]]
    columns = {"product_id": "product", "name": "name", by: _PRODUCT_CRITERIA[by],
               "before": "before", "change": "change", "change %": "change %"}
    if not any(row.get("name") for row in rows):
        del columns["name"]
    return text + "\n\n" + _table(rows, columns, lang)


def _answer_together(r: dict[str, Any], lang: str = "en") -> str:
    templates = _templates(lang)
    unit = r["across"][:-1]  # "order" or "customer"
    words = {"unit": say(lang, f"basket_{unit}"), "units": say(lang, f"baskets_{unit}"),
             "ranking": say(lang, f"by_{r['by']}"), "as_of": r["as_of"],
             "n": len(r["pairs"]), "min_together": r["min_together"]}
    rows = [{**row, "together": f"{row['together']:,}", "confidence": _pct(row["confidence"]),
             "lift": f"{row['lift']:.2f}"} for row in r["pairs"]]
    if r.get("product"):
        asked = r["product"]
        text = templates["bought_with"].format(
            product=asked["product_id"], name=f" ({asked['name']})" if asked.get("name") else "",
            product_baskets=f"{asked['baskets']:,}", **words)
        columns = {"product_b": "product", "name_b": "name", "together": "together",
                   "confidence": "confidence", "lift": "lift"}
    else:
        text = templates["bought_together"].format(
            baskets=f"{r['baskets']:,}", multi=f"{r['multi_product_baskets']:,}", **words)
        columns = {"product_a": "product", "name_a": "name", "product_b": "bought with",
                   "name_b": "name", "together": "together", "confidence": "confidence",
                   "lift": "lift"}
    if r.get("chosen_because"):  # the orders rarely hold two products: customers are baskets
        text += "\n\n" + templates["bought_together_customers"].format(
            multi=f"{r['orders_with_two_products']:,}", orders=f"{r['orders']:,}")
    if not rows:
        return text + "\n\n" + templates["bought_together_none"].format(**words)
    if not any(row.get("name_a") or row.get("name_b") for row in rows):
        columns = {k: v for k, v in columns.items() if not k.startswith("name")}
    return text + "\n\n" + _table(rows, columns, lang) + "\n\n" + \
        templates["bought_together_next"]


def _answer_breakdown(r: dict[str, Any], lang: str = "en") -> str:
    text = _templates(lang)["breakdown"].format(by=word(lang, r["by"]),
                                                horizon_days=r["horizon_days"])
    rows = [{**row, "customers": f"{row['customers']:,}"} for row in r["rows"]]
    return text + "\n\n" + _table(rows, {
        r["by"]: r["by"], "customers": "customers", "revenue_share": "revenue share",
        "avg_order_value": "average order",
        "mean_churn_probability": "mean churn", "revenue_at_risk": "revenue at risk",
        "predicted_clv": "predicted value"}, lang)


def _answer_profile(r: dict[str, Any], lang: str = "en") -> str:
    why = reasons(r.get("churn_reasons"), lang) or ""
    if why:
        why = f"（{why}）" if lang == "zh" else f" ({why})"
    text = _templates(lang)["customer_profile"].format(
        customer_id=r["customer_id"], rfm_segment=segment_name(r.get("rfm_segment"), lang),
        cluster_label=cluster_label(r.get("cluster_label"), lang),
        frequency=orders(lang, r.get("frequency")),
        monetary=_money(r.get("monetary")), recency_days=r.get("recency_days"),
        horizon_days=r["horizon_days"], churn=_pct(r.get("churn_probability")),
        reasons=why, clv=_money(r.get("predicted_clv")),
        expected_orders=f"{r.get('expected_orders') or 0:.1f}",
        risk=_money(r.get("revenue_at_risk")))
    recs = r.get("recommendations") or []
    if recs:
        text += "\n\n" + say(lang, "to_recommend") + "; ".join(
            f"{x['product_id']}" + (f" ({x['name']})" if x.get("name") else "") for x in recs)
    return text


def _answer_recs(r: dict[str, Any], lang: str = "en") -> str:
    text = _templates(lang)["recommendations"].format(customer_id=r["customer_id"])
    rows = [{**row, "why": word(lang, row["why"])} for row in r["recommendations"]]
    return text + "\n\n" + _table(rows, {"product_id": "product", "name": "name", "why": "why"},
                                  lang)


def _answer_cohorts(r: dict[str, Any], lang: str = "en") -> str:
    if r.get("cohort"):
        return _answer_cohort(r, lang)
    months = r["mean_retention_by_month"]
    if r.get("rank"):  # "which cohort retains best?"
        text = _templates(lang)["cohort_ranked"].format(
            n=len(r["cohorts"]), which=say(lang, f"cohort_{r['rank']}"),
            ranked=r["cohorts_ranked"], min_customers=r["min_customers"],
            avg_m3=_pct(months.get("M3")))
    else:
        text = _templates(lang)["cohort_retention"].format(
            m1=_pct(months.get("M1")), m3=_pct(months.get("M3")),
            repeat=_pct(r["repeat_purchase_rate"]),
            new30=_pct(r["new_customer_repeat_rate_30d"]),
            new90=_pct(r["new_customer_repeat_rate_90d"]))
    if not r.get("cohorts"):
        return text
    rows = [{"cohort": row["cohort"], "customers": f"{row['customers']:,}",
             **{m: "" if row[m] is None else _pct(row[m]) for m in ("M1", "M3", "M6")}}
            for row in r["cohorts"]]
    return text + "\n\n" + _table(rows, {"cohort": "cohort", "customers": "customers",
                                         "M1": "1st month", "M3": "3rd month",
                                         "M6": "6th month"}, lang)


def _answer_cohort(r: dict[str, Any], lang: str = "en") -> str:
    cohort, mean = r["cohort"], r["mean_retention_by_month"]
    months = cohort["retention_by_month"]
    text = _templates(lang)["cohort_one"].format(
        cohort=cohort["cohort"], customers=f"{cohort['customers']:,}",
        m1=_pct(months.get("M1")), avg_m1=_pct(mean.get("M1")))
    rows = [{"month": month, "cohort": _pct(share), "mean": _pct(mean.get(month))}
            for month, share in months.items()]
    return text + "\n\n" + _table(rows, {"month": "months after the first order",
                                          "cohort": "this cohort", "mean": "average cohort"},
                                   lang)


def _signed_pct(new: float | None, old: float | None) -> str:
    return "n/a" if not new or not old else f"{new / old - 1:+.1%}"


def _answer_trend(r: dict[str, Any], lang: str = "en") -> str:
    texts, by_month = _templates(lang), r["by_month"]
    latest = by_month[r["latest"]]
    previous = by_month.get(r["previous"] or "", {})
    year_before = by_month.get(r["year_before"] or "")
    kind = ("monthly_trend_first" if not r["previous"] else
            "monthly_trend" if year_before else "monthly_trend_short")
    text = texts[kind].format(
        latest=r["latest"], orders=f"{latest['orders']:,}", revenue=_money(latest["revenue"]),
        aov=_money(latest["avg_order_value"]), active=f"{latest['active_customers']:,}",
        new=f"{latest['new_customers']:,}", previous=r["previous"],
        vs_previous=_signed_pct(latest["revenue"], previous.get("revenue")),
        year_before=r["year_before"],
        vs_year=_signed_pct(latest["revenue"], (year_before or {}).get("revenue")),
        n=len(r["months"]))
    parts = [text]
    if kind != "monthly_trend_first":  # a first month needs no table of one row
        parts.append(_table(r["months"], {
            "month": "month", "revenue": "revenue", "orders": "orders",
            "active_customers": "active customers", "new_customers": "new customers",
            "avg_order_value": "average order value"}, lang))
    if r.get("partial_month"):
        parts.append(texts["monthly_trend_partial"].format(month=r["partial_month"],
                                                           as_of=r["as_of"]))
    return "\n\n".join(parts)


def _answer_clv(r: dict[str, Any], lang: str = "en") -> str:
    scope = (say(lang, "all_customers") if r["segment"] == "all"
             else segment_name(r["segment"], lang))
    return _templates(lang)["clv_summary"].format(
        horizon_days=r["horizon_days"], scope=scope, total=_money(r["total_predicted_clv"]),
        mean=_money(r["mean_predicted_clv"]), p50=_money(r["quantiles"]["p50"]),
        p90=_money(r["quantiles"]["p90"]))


def _answer_results(r: dict[str, Any], lang: str = "en") -> str:
    """How a saved campaign did: treated against held out, or why it cannot be told yet."""
    head = {"name": r["name"], "plan_id": r["plan_id"], "drafted_on": r["drafted_on"]}
    if not r["measured"]:
        known = r["audience_in_data"]
        why = "" if known >= r["audience"] / 2 else say(
            lang, "cr_other_shop", known=f"{known:,}", audience=f"{r['audience']:,}")
        return _templates(lang)["campaign_results_waiting"].format(
            **head, data_until=r["data_until"], why=why, horizon_days=r["horizon_days"])
    t, h, uplift = r["groups"]["treatment"], r["groups"]["holdout"], r.get("uplift")
    if uplift is None:  # no holdout: the treated customers' rate alone
        return say(lang, "cr_no_holdout", **head, rate=_pct(t["rate"]),
                   n=f"{t['customers']:,}", days=r["observed_days"])
    partial = "" if r["observed_days"] >= r["horizon_days"] else say(
        lang, "cr_partial", horizon=r["horizon_days"], data_until=r["data_until"])
    verdict = say(lang, "cr_chance", n=f"{h['customers']:,}") if not uplift["significant"] \
        else say(lang, "cr_better" if uplift["points"] > 0 else "cr_worse")
    return _templates(lang)["campaign_results"].format(
        **head, observed_days=r["observed_days"], partial=partial, t_rate=_pct(t["rate"]),
        t_n=f"{t['customers']:,}", h_rate=_pct(h["rate"]), h_n=f"{h['customers']:,}",
        points=say(lang, "points", value=100 * uplift["points"]),
        ci_low=say(lang, "points", value=100 * uplift["ci_low"]),
        ci_high=say(lang, "points", value=100 * uplift["ci_high"]),
        p_value=f"{uplift['p_value']:.3f}", verdict=verdict,
        t_rpc=_money(t["revenue_per_customer"]), h_rpc=_money(h["revenue_per_customer"]),
        incremental_revenue=f"{uplift['incremental_revenue']:+,.2f}",
        baseline=_pct(r["baseline_retention"]), target=_pct(r["target_retention"]))


def _answer_ab(r: dict[str, Any], lang: str = "en") -> str:
    share = f"{r['holdout_share']:.0%}"
    if r["powered"]:
        verdict = say(lang, "ab_enough", n=f"{r['holdout_at_share']:,}", share=share)
    elif r["audience"] >= 2 * r["required_per_group"]:
        verdict = say(lang, "ab_larger", n=f"{r['required_per_group']:,}", share=share)
    else:
        verdict = say(lang, "ab_too_few")
    return _templates(lang)["ab_test_plan"].format(
        uplift=_pct(r["target_uplift"]), segment=segment_name(r["segment"], lang),
        baseline=_pct(r["baseline_retention"]), duration_days=r["duration_days"],
        alpha=r["alpha"], power=r["power"], required=f"{r['required_per_group']:,}",
        audience=f"{r['audience']:,}", verdict=verdict)


def _answer_quality(r: dict[str, Any], lang: str = "en") -> str:
    texts = _templates(lang)
    if "churn" not in r:
        return texts["model_quality_skipped"].format(reason=r.get("skipped"))
    churn, margin = r["churn"], r.get("churn_margin")

    def auc(value: float | None, digits: int = 3) -> str:  # None: one class only, no AUC
        return "n/a" if value is None else f"{value:.{digits}f}"

    text = ""
    if margin:
        baseline = ("BG/NBD" if margin["baseline"] == "bgnbd"
                    else word(lang, "days since the last order"))
        few = margin["ci95_low"] is None
        text = ("" if lang == "zh" else " ") + texts[
            "model_quality_margin_few" if few else "model_quality_margin"].format(
            baseline=baseline, difference=f"{margin['roc_auc_difference']:+.3f}",
            low=None if few else f"{margin['ci95_low']:+.3f}",
            high=None if few else f"{margin['ci95_high']:+.3f}")
    parts = [texts["model_quality"].format(
        cutoff=r["cutoff"], customers=f"{r['customers']:,}", horizon_days=r["horizon_days"],
        churn_rate=_pct(r["churn_rate"]), model=r["churn_model"],
        auc=auc(churn["model"]["roc_auc"]), recency_auc=auc(churn["recency"]["roc_auc"]),
        bgnbd_auc=auc(churn["bgnbd"]["roc_auc"]),
        lift=auc(churn["model"]["top_decile_lift"], 1), margin=text)]
    if clv := r.get("clv"):
        parts.append(texts["model_quality_clv"].format(
            spearman=auc(clv["model"]["spearman"], 2), naive=auc(clv["naive"]["spearman"], 2),
            predicted=_money(clv["model"]["predicted_total"]),
            actual=_money(clv["model"]["actual_total"])))
    if recs := r.get("recommendations"):
        parts.append(texts["model_quality_recommendations"].format(
            hit_rate=_pct(recs["model"]["hit_rate"]), n=recs["n"],
            popularity=_pct(recs["popularity"]["hit_rate"])))
    return "\n\n".join(parts)


def _answer_playbook(r: dict[str, Any], lang: str = "en") -> str:
    parts = [_templates(lang)["playbook_search"]]
    for p in r["passages"][:3]:
        body = p["text"].split("\n", 2)[-1].strip()
        parts.append(f"**{p['title']} — {p['section']}** ({p['source']})\n\n{body[:600]}")
    if r.get("segment"):
        parts.append(say(lang, "follow_up", segment=r["segment"]))
    return "\n\n".join(parts)


def _product_text(product: Mapping[str, Any]) -> str:
    """"P0307 (Portable Charger)", or the id alone without a name."""
    return str(product["product_id"]) + (f" ({product['name']})" if product.get("name")
                                         else "")


def _audience_name(r: dict[str, Any], segment: str | None, lang: str) -> str:
    """Who a plan or a products table is about, by what chose them: "no order for 90+
    days", "At Risk, one-time buyers, no order for 120+ days, spent 500+, Germany"."""
    parts = [segment_name(segment, lang) if segment and segment != "all" else "",
             say(lang, "one_time_audience") if r.get("one_order_only") else "",
             say(lang, "lapsed_audience", days=r["inactive_days"])
             if r.get("inactive_days") else "",
             say(lang, "spent_audience", amount=amount_text(r["min_spend"]))
             if r.get("min_spend") else "",
             say(lang, "bought_audience", product=_product_text(r["product"]))
             if r.get("product") else "",
             say(lang, "not_bought_audience", product=_product_text(r["not_bought"]))
             if r.get("not_bought") else "",
             country_name(r["country"], lang) if r.get("country") else ""]
    return ("、" if lang == "zh" else ", ").join(p for p in parts if p)


def _answer_plan(r: dict[str, Any], lang: str = "en") -> str:
    saved = "" if r.get("plan_id") is None else say(lang, "saved", id=r["plan_id"])
    name = segment_name(r["segment"], lang)
    if r.get("inactive_days") or r.get("one_order_only") or r.get("country") or \
            r.get("min_spend"):
        name = _audience_name(r, r.get("audience_segment"), lang)
        name = name[:1].upper() + name[1:]
    text = _templates(lang)["campaign_plan"].format(
        segment=name, saved=saved,
        offer=plan_text(r["offer"], lang), discount=f"{r['discount']:.0%}",
        treatment=f"{r['treatment_size']:,}", holdout=f"{r['holdout_size']:,}",
        channel=plan_text(r["channel"], lang), days=r["send_within_days"],
        cost=_money(r["expected_cost"]), incremental=_money(r["expected_incremental_revenue"]))
    lines = [text, "", say(lang, "why_discount", text=plan_text(r["discount_rationale"], lang)),
             say(lang, "timing", text=plan_text(r["timing_rationale"], lang)),
             say(lang, "kpi", days=r["horizon_days"], baseline=_pct(r["baseline_retention"]),
                  target=_pct(r["target_retention"]), n=f"{r['required_per_group']:,}"),
             say(lang, "subject", text=r["subject"]), "", r["body"]]
    lines += [say(lang, "note", text=plan_text(w, lang)) for w in r.get("warnings", [])]
    if r.get("citations"):
        lines += ["", say(lang, "sources") + "; ".join(
            f"{c['title']}, \"{c['section']}\" ({c['source']})" for c in r["citations"])]
    return "\n".join(lines)


def _answer_glossary(r: dict[str, Any], lang: str = "en") -> str:
    templates = _templates(lang)
    model = model_words(r.get("model"), lang)
    text = templates[f"define_{r['term']}"].format(
        horizon_days=r["horizon_days"], model=model, k=r.get("k") or "—",
        holdout_share=_pct(r.get("holdout_share")))
    gap = "" if lang == "zh" else " "
    if r["term"] == "churn_probability" and r.get("fallback_reason"):
        text += gap + templates["define_churn_fallback"].format(model=model)
    elif r["term"] == "churn_probability":  # learned: how, and how well in the backtest
        text += gap + templates["define_churn_learned"].format(
            horizon_days=r["horizon_days"], model=model)
        if r.get("auc") is not None:
            text += gap + templates["define_churn_auc"].format(horizon_days=r["horizon_days"],
                                                               auc=f"{r['auc']:.3f}")
    if r.get("segments"):  # the rules, and how many customers meet each now
        rows = [{**row, "segment": segment_name(row["segment"], lang),
                 "customers": f"{row['customers']:,}"} for row in r["segments"]]
        text += "\n\n" + _table(rows, {"segment": "segment", "R": "R", "FM": "FM",
                                         "orders": "orders", "customers": "customers"}, lang)
    return text


ANSWERS = {
    "churning_segments": _answer_churning, "segment_overview": _answer_overview,
    "churn_drivers": _answer_drivers, "at_risk_customers": _answer_at_risk,
    "top_customers": _answer_top,
    "shop_kpis": _answer_kpis, "customer_profile": _answer_profile,
    "top_products": _answer_products, "bought_together": _answer_together,
    "product_trend": _answer_product_trend,
    "breakdown": _answer_breakdown,
    "recommendations": _answer_recs, "cohort_retention": _answer_cohorts,
    "monthly_trend": _answer_trend, "clv_summary": _answer_clv,
    "model_quality": _answer_quality, "ab_test_plan": _answer_ab,
    "playbook_search": _answer_playbook, "campaign_plan": _answer_plan,
    "campaign_results": _answer_results, "glossary": _answer_glossary,
}


def _help(lang: str = "en") -> str:
    return _templates(lang)["help"].format(
        segments=", ".join(segment_name(s, lang) or s for s in SEGMENTS))


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
        if not results:  # a follow-up reads the questions before it
            intent = resolve([str(m.content) for m in messages[:last_human + 1]
                              if isinstance(m, HumanMessage)])
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
                parts.append(say(lang, "could_not", error=message.content))
                continue
            payload = json.loads(str(message.content))
            parts.append(ANSWERS[str(message.name)](payload, lang))
        return local_numbers("\n\n".join(parts), lang)  # "2.090 Kunden", "12,3%"

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
