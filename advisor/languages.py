"""The offline advisor's languages: which one a question is in, and the words its answers
write around their templates (``prompts/offline_answers*.md``) in each.

English is the default. A question in Chinese (Han characters) is answered in Chinese; one
in German, French or Spanish (by its common words and accents) in that language. The text
the analytics write into a tool's result (churn reasons, cluster labels, a campaign plan's
offer, channel, discount rationale, timing and warnings) is translated here too, as each
form of it is known; playbook passages stay as written (a plan's message copy comes in
the question's language from ``prompts/campaign_copy.<xx>.md``, see ``advisor.plans``).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["COUNTRY_NAMES", "GERMAN_DEMONYMS", "LANGUAGES", "cluster_label",
           "country_aliases", "country_name", "language", "local_numbers", "model_words", "orders",
           "plan_text", "reasons", "say", "segment_name", "word"]

LANGUAGES = ("en", "zh", "de", "fr", "es")
_TRANSLATED = LANGUAGES[1:]  # the order of a translation table's words


def _by_language(table: dict[str, tuple[str, ...]]) -> dict[str, dict[str, str]]:
    """``{english: (zh, de, fr, es)}`` as ``{language: {english: words}}``."""
    by_language: dict[str, dict[str, str]] = {lang: {} for lang in _TRANSLATED}
    for english, translations in table.items():
        for lang, words in zip(_TRANSLATED, translations, strict=True):
            by_language[lang][english] = words
    return by_language


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that mark a question's language: common short words, question words and the words
# of this domain (a question of three words still has one or two).
_MARKS = {
    "en": _words("the which what who how is are my our customers customer of in for do does "
                 "me show segment segments with most"),
    "de": _words("der die das den dem des welche welcher welches wie ist sind kunden kunde "
                 "und unsere unser unseren meine wer viele hoch erstelle für kauft kaufen "
                 "wir haben nicht mit eine ein einen produkte land ab wandert warum wandern "
                 "steht um geht läuft laufen sieht erzähl wo soll ich anfangen werden hat am "
                 "meisten bedeutet bedeuten was wird berechnet definiert lief"),
    "fr": _words("le la les quel quels quelle quelles est sont clients client et nos notre "
                 "mes qui combien pour une des du au aux crée créer perd avons faire "
                 "produits pays risque pourquoi comment vont porte portent parle par où "
                 "commencer allons signifie que qu ce calculée calculé définis"),
    "es": _words("el la los las qué cuál cuáles es son clientes cliente y nuestros nuestra "
                 "nuestro mis quién cuántos cuántas para una del cómo tenemos crea crear "
                 "más hay productos país riesgo por qué está están van tal háblame segmento "
                 "significa calcula define dio"),
}
# Letters that only one of them writes (two points each), or that two share (one point).
_LETTERS = {"de": "äöüß", "fr": "çèêàœùîôûëï", "es": "ñ¿¡"}
_SHARED = {"fr": "é", "es": "áíóúé"}


def language(question: str) -> str:
    """The language the offline advisor answers a question in: ``"zh"`` for a question
    written in Chinese (Han characters, no Japanese kana); ``"de"``, ``"fr"`` or ``"es"``
    when that language's words and letters outweigh English's (two marks at least); else
    ``"en"``."""
    if re.search(r"[\u4e00-\u9fff]", question) and not re.search(r"[\u3040-\u30ff]", question):
        return "zh"
    text = question.lower()
    words = re.findall(r"[^\W\d_]+", text)
    scores = {lang: sum(w in marks for w in words) for lang, marks in _MARKS.items()}
    for lang, letters in _LETTERS.items():
        scores[lang] += 2 * sum(text.count(c) for c in letters)
    for lang, letters in _SHARED.items():
        scores[lang] += sum(text.count(c) for c in letters)
    best = max(("de", "fr", "es"), key=lambda lang: scores[lang])
    return best if scores[best] >= 2 and scores[best] > scores["en"] else "en"


# The words an answer writes around its template, by language (filled with str.format).
PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "overall": "overall", "in_segment": "in {segment}", "among": "among {segment}",
        "all_customers": "all customers",
        "change": ", {signed} in the last {days} days",
        "active": ", and {n} ordered in the last {days} days",
        "lapsed": "; {n} who ordered in the {window} days before that have not ordered since",
        "gap": " A customer who orders again does so about every {days} days (the median of "
               "the usual gaps of {n} customers who ordered on more than one day).",
        "left_out": "Postage, fees and adjustments are left out ({codes} codes, {revenue} of "
                    "revenue).",
        "to_recommend": "To recommend: ",
        "moved_rising": "rise", "moved_falling": "fall", "new_product": "new",
        "cohort_best": "highest", "cohort_worst": "lowest",
        "basket_order": "in the same order", "basket_customer": "in the same customer's purchases",
        "baskets_order": "orders", "baskets_customer": "customers",
        "by_together": "the most often bought together first",
        "by_lift": "the most above chance first",
        "ab_enough": "a holdout of {n} ({share}) is enough.",
        "ab_larger": "hold out {n} customers rather than {share} to reach that power.",
        "ab_too_few": "that is too few for this power: test a larger uplift, pool segments, or "
                      "read the result as directional.",
        "follow_up": "For a plan with {segment}'s own numbers (audience, offer, control group, "
                     'cost), ask: "draft a campaign for {segment}".',
        "saved": " (saved as plan {id})",
        "lapsed_audience": "no order for {days}+ days",
        "one_time_audience": "one-time buyers",
        "spent_at_least": "who spent {amount} or more",
        "spent_matching": "who spent {amount} or more ({matching} in all)",
        "spent_audience": "spent {amount}+",
        "bought_audience": "bought {product}", "bought_scope": "who bought {product}",
        "not_bought_audience": "not bought {product}",
        "not_bought_scope": "who have not bought {product}",
        "from_country": "from {country}", "among_from": "among customers from {country}",
        "among_audience": "among customers ({audience})",
        "why_discount": "- Why this discount: {text}.", "timing": "- Timing: {text}.",
        "kpi": "- KPI: order rate within {days} days from {baseline} to {target}; {n} "
               "customers per group detect that uplift.",
        "subject": "- Subject: {text}", "note": "- Note: {text}", "sources": "Sources: ",
        "one_order": "{n} order", "orders": "{n} orders",
        "cr_partial": (
            " (of its {horizon} days: the data end on {data_until})"),
        "cr_better": (
            "More treated customers ordered, beyond chance: the campaign worked."),
        "cr_worse": (
            "Fewer treated customers ordered, beyond chance: the campaign did harm."),
        "cr_chance": (
            "That is within chance: with {n} customers held out, the test cannot tell the "
            "campaign from none."),
        "cr_other_shop": (
            ", and only {known} of its {audience} customers are in them (another shop's data?)"),
        "cr_no_holdout": (
            "**{name}** (plan {plan_id}): {rate} of its {n} customers ordered in the {days} "
            "days after {drafted_on}. It kept no holdout, so what the campaign added cannot "
            "be told."),
        "could_not": "I could not do that: {error}", "points": "{value:+.1f} pts",
        "change_in_days": "change in {days} days",
        "driver_overdue": "overdue: longer since their last order than 1.5× their usual gap",
        "driver_one_order": "one order only, no second yet",
        "driver_slowing": "fewer orders in the last {h} days than in the {h} before",
        "driver_silent": "no order for over {h} days",
        "driver_one_day": "all their orders on one day",
        "driver_infrequent": "usually order less often than every {h} days",
        "driver_few_orders": "only 2 or 3 orders so far",
        "driver_usual_pace": "no warning sign: buying at their usual pace",
    },
    "zh": {
        "overall": "全店", "in_segment": "{segment} 中", "among": "{segment} 的客户中",
        "all_customers": "全部客户",
        "change": "，近 {days} 天{direction} {count} 位",
        "active": "，其中 {n} 位在最近 {days} 天内下过单",
        "lapsed": "；在此之前 {window} 天内下过单的客户中有 {n} 位此后再未下单",
        "gap": "复购客户大约每 {days} 天下一次单（{n} 位在不同日期下过单的客户平均间隔的中位数）。",
        "left_out": "已排除运费、手续费和调整项（{codes} 个代码，收入 {revenue}）。",
        "to_recommend": "推荐商品：",
        "moved_rising": "上升", "moved_falling": "下降", "new_product": "新上",
        "cohort_best": "最高", "cohort_worst": "最低",
        "basket_order": "在同一订单中", "basket_customer": "在同一客户的购买记录中",
        "baskets_order": "笔订单", "baskets_customer": "位客户",
        "by_together": "按共同购买次数排序", "by_lift": "按高于随机的程度（提升度）排序",
        "ab_enough": "留出 {n} 位（{share}）作为对照组即可。",
        "ab_larger": "应留出 {n} 位客户作为对照组，而不是 {share}，才能达到该检验功效。",
        "ab_too_few": "人数不足以达到该检验功效：可检验更大的提升、合并用户群，或仅将结果视为"
                      "方向性参考。",
        "follow_up": "如需基于 {segment} 自身数据（受众、优惠、对照组、成本）的方案，可以问："
                     '"给 {segment} 设计一个召回活动"。',
        "saved": "（已保存为方案 {id}）",
        "lapsed_audience": "{days} 天以上未下单",
        "one_time_audience": "只下过一单的客户",
        "spent_at_least": "累计消费 {amount} 及以上、",
        "spent_matching": "累计消费 {amount} 及以上的客户（共 {matching} 位）中，",
        "spent_audience": "累计消费 {amount}+",
        "bought_audience": "买过 {product}", "bought_scope": "买过 {product} 的客户中，",
        "not_bought_audience": "没买过 {product}",
        "not_bought_scope": "没买过 {product} 的客户中，",
        "from_country": "来自{country}", "among_from": "来自{country}的客户中",
        "among_audience": "（{audience}）客户中",
        "why_discount": "- 折扣依据：{text}", "timing": "- 发送时机：{text}",
        "kpi": "- KPI：{days} 天内下单率从 {baseline} 提升到 {target}；每组 {n} 位客户即可"
               "检测到该提升。",
        "subject": "- 邮件标题：{text}", "note": "- 注意：{text}", "sources": "来源：",
        "one_order": "{n} 笔订单", "orders": "{n} 笔订单",
        "cr_partial": (
            "（计划 {horizon} 天；数据截至 {data_until}）"),
        "cr_better": (
            "触达组下单更多，且超出偶然范围：活动有效。"),
        "cr_worse": (
            "触达组下单更少，且超出偶然范围：活动产生了负面影响。"),
        "cr_chance": (
            "差异在偶然范围内：对照组只有 {n} 位客户，检验无法区分活动与不做活动。"),
        "cr_other_shop": (
            "，且其 {audience} 位客户中只有 {known} 位在数据中（是否是另一家店铺的数据？）"),
        "cr_no_holdout": (
            "**{name}**（方案 {plan_id}）：{n} 位客户中有 {rate} 在 {drafted_on} 之后 {days} "
            "天内下单。该方案没有对照组，无法判断活动带来的增量。"),
        "could_not": "无法完成：{error}", "points": "{value:+.1f} 个百分点",
        "change_in_days": "近 {days} 天变化",
        "driver_overdue": "逾期：距上次下单已超过其通常间隔的 1.5 倍",
        "driver_one_order": "只下过一单，尚未复购",
        "driver_slowing": "最近 {h} 天的订单少于之前 {h} 天",
        "driver_silent": "超过 {h} 天没有下单",
        "driver_one_day": "所有订单都在同一天",
        "driver_infrequent": "通常下单间隔长于 {h} 天",
        "driver_few_orders": "目前只有 2 到 3 笔订单",
        "driver_usual_pace": "无预警信号：按通常节奏购买",
    },
    "de": {
        "overall": "im ganzen Shop", "in_segment": "in {segment}",
        "among": "unter den Kunden von {segment}", "all_customers": "alle Kunden",
        "change": ", {signed} in den letzten {days} Tagen",
        "active": ", und {n} haben in den letzten {days} Tagen bestellt",
        "lapsed": "; {n}, die in den {window} Tagen davor bestellt haben, haben seitdem nicht "
                  "mehr bestellt",
        "gap": " Wer erneut bestellt, tut das etwa alle {days} Tage (Median der üblichen "
               "Abstände von {n} Kunden, die an mehr als einem Tag bestellt haben).",
        "left_out": "Porto, Gebühren und Korrekturen sind ausgenommen ({codes} Codes, "
                    "{revenue} Umsatz).",
        "to_recommend": "Zu empfehlen: ",
        "moved_rising": "Anstieg", "moved_falling": "Rückgang", "new_product": "neu",
        "cohort_best": "höchsten", "cohort_worst": "niedrigsten",
        "basket_order": "in derselben Bestellung",
        "basket_customer": "im Einkaufsverlauf desselben Kunden",
        "baskets_order": "Bestellungen", "baskets_customer": "Kunden",
        "by_together": "die am häufigsten zusammen gekauften zuerst",
        "by_lift": "die am stärksten über dem Zufall zuerst",
        "ab_enough": "eine Kontrollgruppe von {n} ({share}) reicht.",
        "ab_larger": "halten Sie {n} Kunden statt {share} zurück, um diese Teststärke zu "
                     "erreichen.",
        "ab_too_few": "das ist zu wenig für diese Teststärke: testen Sie eine größere "
                      "Steigerung, fassen Sie Segmente zusammen oder lesen Sie das Ergebnis als "
                      "Richtung.",
        "follow_up": "Für einen Plan mit den eigenen Zahlen von {segment} (Zielgruppe, "
                     "Angebot, Kontrollgruppe, Kosten) fragen Sie: "
                     '"Erstelle eine Kampagne für {segment}".',
        "saved": " (gespeichert als Plan {id})",
        "lapsed_audience": "seit {days}+ Tagen ohne Bestellung",
        "one_time_audience": "Einmalkäufer",
        "spent_at_least": "mit mindestens {amount} Umsatz",
        "spent_matching": "mit mindestens {amount} Umsatz ({matching} insgesamt)",
        "spent_audience": "Umsatz {amount}+",
        "bought_audience": "kauften {product}", "bought_scope": "mit einem Kauf von {product}",
        "not_bought_audience": "ohne {product}",
        "not_bought_scope": "ohne einen Kauf von {product}",
        "from_country": "aus {country}", "among_from": "unter den Kunden aus {country}",
        "among_audience": "unter den Kunden ({audience})",
        "why_discount": "- Warum dieser Rabatt: {text}.", "timing": "- Zeitpunkt: {text}.",
        "kpi": "- KPI: Bestellrate innerhalb von {days} Tagen von {baseline} auf {target}; {n} "
               "Kunden pro Gruppe erkennen diese Steigerung.",
        "subject": "- Betreff: {text}", "note": "- Hinweis: {text}", "sources": "Quellen: ",
        "one_order": "{n} Bestellung", "orders": "{n} Bestellungen",
        "cr_partial": (
            " (von {horizon} geplanten Tagen: die Daten enden am {data_until})"),
        "cr_better": (
            "Mehr angesprochene Kunden haben bestellt, über den Zufall hinaus: die Kampagne "
            "hat gewirkt."),
        "cr_worse": (
            "Weniger angesprochene Kunden haben bestellt, über den Zufall hinaus: die "
            "Kampagne hat geschadet."),
        "cr_chance": (
            "Das liegt im Bereich des Zufalls: Mit {n} zurückgehaltenen Kunden kann der Test "
            "die Kampagne nicht von keiner unterscheiden."),
        "cr_other_shop": (
            ", und nur {known} ihrer {audience} Kunden sind darin (Daten eines anderen Shops?)"),
        "cr_no_holdout": (
            "**{name}** (Plan {plan_id}): {rate} der {n} Kunden haben in den {days} Tagen "
            "nach dem {drafted_on} bestellt. Es gab keine Kontrollgruppe, daher lässt sich "
            "nicht sagen, was die Kampagne gebracht hat."),
        "could_not": "Das ging nicht: {error}", "points": "{value:+.1f} Pkt.",
        "change_in_days": "Änderung in {days} Tagen",
        "driver_overdue": "überfällig: länger ohne Bestellung als das 1.5-Fache ihres "
                          "üblichen Abstands",
        "driver_one_order": "nur eine Bestellung, noch keine zweite",
        "driver_slowing": "weniger Bestellungen in den letzten {h} Tagen als in den {h} davor",
        "driver_silent": "seit über {h} Tagen keine Bestellung",
        "driver_one_day": "alle Bestellungen an einem Tag",
        "driver_infrequent": "bestellen üblicherweise seltener als alle {h} Tage",
        "driver_few_orders": "bisher nur 2 oder 3 Bestellungen",
        "driver_usual_pace": "kein Warnzeichen: kaufen in ihrem üblichen Tempo",
    },
    "fr": {
        "overall": "dans toute la boutique", "in_segment": "dans {segment}",
        "among": "parmi les clients de {segment}", "all_customers": "tous les clients",
        "change": ", {signed} sur les {days} derniers jours",
        "active": ", et {n} ont commandé dans les {days} derniers jours",
        "lapsed": " ; {n} clients qui avaient commandé dans les {window} jours précédents "
                  "n'ont plus commandé depuis",
        "gap": " Un client qui recommande le fait environ tous les {days} jours (médiane de "
               "l'intervalle habituel de {n} clients ayant commandé sur plus d'un jour).",
        "left_out": "Les frais de port, frais et ajustements sont exclus ({codes} codes, "
                    "{revenue} de chiffre d'affaires).",
        "to_recommend": "À recommander : ",
        "moved_rising": "hausse", "moved_falling": "baisse", "new_product": "nouveau",
        "cohort_best": "la plus forte", "cohort_worst": "la plus faible",
        "basket_order": "dans la même commande",
        "basket_customer": "dans l'historique d'achat d'un même client",
        "baskets_order": "commandes", "baskets_customer": "clients",
        "by_together": "les plus souvent achetés ensemble d'abord",
        "by_lift": "les plus au-dessus du hasard d'abord",
        "ab_enough": "un groupe témoin de {n} ({share}) suffit.",
        "ab_larger": "gardez {n} clients en groupe témoin plutôt que {share} pour atteindre "
                     "cette puissance.",
        "ab_too_few": "c'est trop peu pour cette puissance : testez une hausse plus forte, "
                      "regroupez des segments ou lisez le résultat comme une tendance.",
        "follow_up": "Pour un plan avec les chiffres de {segment} (audience, offre, groupe "
                     'témoin, coût), demandez : "Crée une campagne pour {segment}".',
        "saved": " (enregistré comme plan {id})",
        "lapsed_audience": "sans commande depuis {days} jours ou plus",
        "one_time_audience": "clients d'une seule commande",
        "spent_at_least": "ayant dépensé au moins {amount}",
        "spent_matching": "ayant dépensé au moins {amount} ({matching} en tout)",
        "spent_audience": "dépense {amount}+",
        "bought_audience": "ont acheté {product}",
        "bought_scope": "ayant acheté {product}",
        "not_bought_audience": "sans {product}",
        "not_bought_scope": "n'ayant pas acheté {product}",
        "from_country": "{country}",
        "among_from": "parmi les clients {country}",
        "among_audience": "parmi les clients ({audience})",
        "why_discount": "- Pourquoi cette remise : {text}.", "timing": "- Calendrier : {text}.",
        "kpi": "- KPI : taux de commande sous {days} jours de {baseline} à {target} ; {n} "
               "clients par groupe détectent cette hausse.",
        "subject": "- Objet : {text}", "note": "- Remarque : {text}", "sources": "Sources : ",
        "one_order": "{n} commande", "orders": "{n} commandes",
        "cr_partial": (
            " (sur {horizon} jours prévus : les données s'arrêtent au {data_until})"),
        "cr_better": (
            "Plus de clients ciblés ont commandé, au-delà du hasard : la campagne a marché."),
        "cr_worse": (
            "Moins de clients ciblés ont commandé, au-delà du hasard : la campagne a nui."),
        "cr_chance": (
            "C'est dans les marges du hasard : avec {n} clients témoins, le test ne distingue "
            "pas la campagne de son absence."),
        "cr_other_shop": (
            ", et seuls {known} de ses {audience} clients y figurent (données d'une autre "
            "boutique ?)"),
        "cr_no_holdout": (
            "**{name}** (plan {plan_id}) : {rate} de ses {n} clients ont commandé dans les "
            "{days} jours après le {drafted_on}. Sans groupe témoin, on ne peut pas dire ce "
            "que la campagne a apporté."),
        "could_not": "Impossible : {error}", "points": "{value:+.1f} pts",
        "change_in_days": "variation sur {days} jours",
        "driver_overdue": "en retard : plus longtemps sans commande que 1.5 fois leur "
                          "intervalle habituel",
        "driver_one_order": "une seule commande, pas encore de deuxième",
        "driver_slowing": "moins de commandes sur les {h} derniers jours que sur les {h} d'avant",
        "driver_silent": "aucune commande depuis plus de {h} jours",
        "driver_one_day": "toutes leurs commandes le même jour",
        "driver_infrequent": "commandent d'habitude moins souvent que tous les {h} jours",
        "driver_few_orders": "seulement 2 ou 3 commandes jusqu'ici",
        "driver_usual_pace": "aucun signe d'alerte : achètent à leur rythme habituel",
    },
    "es": {
        "overall": "en toda la tienda", "in_segment": "en {segment}",
        "among": "entre los clientes de {segment}", "all_customers": "todos los clientes",
        "change": ", {signed} en los últimos {days} días",
        "active": ", y {n} han pedido en los últimos {days} días",
        "lapsed": "; {n} que pidieron en los {window} días anteriores no han vuelto a pedir",
        "gap": " Un cliente que vuelve a pedir lo hace más o menos cada {days} días (la "
               "mediana del intervalo habitual de {n} clientes que han pedido en más de un "
               "día).",
        "left_out": "Se excluyen portes, comisiones y ajustes ({codes} códigos, {revenue} de "
                    "ingresos).",
        "to_recommend": "Para recomendar: ",
        "moved_rising": "subida", "moved_falling": "bajada", "new_product": "nuevo",
        "cohort_best": "más alta", "cohort_worst": "más baja",
        "basket_order": "en el mismo pedido",
        "basket_customer": "en el historial de compras de un mismo cliente",
        "baskets_order": "pedidos", "baskets_customer": "clientes",
        "by_together": "los comprados juntos más a menudo primero",
        "by_lift": "los más por encima del azar primero",
        "ab_enough": "basta un grupo de control de {n} ({share}).",
        "ab_larger": "reserva {n} clientes en vez del {share} para alcanzar esa potencia.",
        "ab_too_few": "son muy pocos para esa potencia: prueba una mejora mayor, junta "
                      "segmentos o lee el resultado como orientativo.",
        "follow_up": "Para un plan con las cifras de {segment} (audiencia, oferta, grupo de "
                     'control, coste), pregunta: "Crea una campaña para {segment}".',
        "saved": " (guardado como plan {id})",
        "lapsed_audience": "sin pedidos en {days} días o más",
        "one_time_audience": "clientes de un solo pedido",
        "spent_at_least": "que gastaron al menos {amount}",
        "spent_matching": "que gastaron al menos {amount} ({matching} en total)",
        "spent_audience": "gasto {amount}+",
        "bought_audience": "compraron {product}",
        "bought_scope": "que compraron {product}",
        "not_bought_audience": "sin {product}",
        "not_bought_scope": "que no compraron {product}",
        "from_country": "de {country}", "among_from": "entre los clientes de {country}",
        "among_audience": "entre los clientes ({audience})",
        "why_discount": "- Por qué este descuento: {text}.", "timing": "- Momento: {text}.",
        "kpi": "- KPI: tasa de pedido en {days} días de {baseline} a {target}; {n} clientes "
               "por grupo detectan esa mejora.",
        "subject": "- Asunto: {text}", "note": "- Nota: {text}", "sources": "Fuentes: ",
        "one_order": "{n} pedido", "orders": "{n} pedidos",
        "cr_partial": (
            " (de {horizon} días previstos: los datos terminan el {data_until})"),
        "cr_better": (
            "Pidieron más clientes tratados, más allá del azar: la campaña funcionó."),
        "cr_worse": (
            "Pidieron menos clientes tratados, más allá del azar: la campaña perjudicó."),
        "cr_chance": (
            "Está dentro del azar: con {n} clientes en el control, la prueba no distingue la "
            "campaña de no hacer nada."),
        "cr_other_shop": (
            ", y solo {known} de sus {audience} clientes están en ellos (¿datos de otra tienda?)"),
        "cr_no_holdout": (
            "**{name}** (plan {plan_id}): pidió el {rate} de sus {n} clientes en los {days} "
            "días posteriores al {drafted_on}. No tuvo grupo de control, así que no se puede "
            "saber qué aportó la campaña."),
        "could_not": "No se pudo: {error}", "points": "{value:+.1f} pts",
        "change_in_days": "cambio en {days} días",
        "driver_overdue": "atrasados: más tiempo sin pedir que 1.5 veces su intervalo habitual",
        "driver_one_order": "un solo pedido, sin segundo todavía",
        "driver_slowing": "menos pedidos en los últimos {h} días que en los {h} anteriores",
        "driver_silent": "ningún pedido en más de {h} días",
        "driver_one_day": "todos sus pedidos en un mismo día",
        "driver_infrequent": "suelen pedir con menos frecuencia que cada {h} días",
        "driver_few_orders": "solo 2 o 3 pedidos hasta ahora",
        "driver_usual_pace": "ninguna señal de alerta: compran a su ritmo habitual",
    },
}

# The churn models, in words: English, then (Chinese, German, French, Spanish)
_MODEL_NAMES = {
    "blend": "a blend of logistic regression and gradient boosting",
    "logistic_regression": "logistic regression", "gradient_boosting": "gradient boosting",
    "heuristic": "each customer's own past order rate", "bgnbd": "the BG/NBD model"}
_MODEL_WORDS = _by_language({
    "a blend of logistic regression and gradient boosting": (
        "逻辑回归与梯度提升的组合", "eine Mischung aus logistischer Regression und Gradient "
        "Boosting", "un mélange de régression logistique et de gradient boosting",
        "una mezcla de regresión logística y gradient boosting"),
    "logistic regression": ("逻辑回归", "logistische Regression", "régression logistique",
                            "regresión logística"),
    "gradient boosting": ("梯度提升", "Gradient Boosting", "gradient boosting",
                          "gradient boosting"),
    "each customer's own past order rate": (
        "每位客户自己过去的下单频率", "die bisherige Bestellrate jedes Kunden",
        "le rythme de commande passé de chaque client", "el ritmo de pedidos pasado de cada "
        "cliente"),
    "the BG/NBD model": ("BG/NBD 模型", "das BG/NBD-Modell", "le modèle BG/NBD",
                         "el modelo BG/NBD"),
})


# Countries as people name them, by the English name: other names, codes and demonyms (lower
# case), in the five languages. Shops write countries their own way ("EIRE", "USA", "DE"):
# a country asked for is matched to the data's values through these.
COUNTRY_NAMES: dict[str, tuple[str, ...]] = {
    "United Kingdom": ("uk", "u.k.", "gb", "gbr", "great britain", "britain", "england",
                       "british", "english", "vereinigtes königreich", "großbritannien",
                       "royaume-uni", "britannique", "reino unido", "británico", "英国"),
    "Ireland": ("eire", "ie", "irl", "irish", "irland", "irlande", "irlanda", "爱尔兰"),
    "USA": ("united states", "united states of america", "us", "u.s.", "america",
            "american", "usa", "vereinigte staaten", "états-unis", "etats-unis",
            "estados unidos", "美国"),
    "Germany": ("de", "deu", "german", "deutschland", "allemagne", "allemand", "alemania",
                "alemán", "德国"),
    "France": ("fr", "fra", "french", "frankreich", "français", "francia", "francés", "法国"),
    "Spain": ("es", "esp", "spanish", "spanien", "espagne", "espagnol", "españa", "español",
              "西班牙"),
    "Netherlands": ("nl", "nld", "holland", "the netherlands", "dutch", "niederlande",
                    "pays-bas", "países bajos", "holanda", "荷兰"),
    "Italy": ("it", "ita", "italian", "italien", "italie", "italia", "italiano", "意大利"),
    "Switzerland": ("ch", "che", "swiss", "schweiz", "suisse", "suiza", "瑞士"),
    "Belgium": ("be", "bel", "belgian", "belgien", "belgique", "bélgica", "比利时"),
    "Austria": ("at", "aut", "austrian", "österreich", "autriche", "奥地利"),
    "Portugal": ("pt", "prt", "portuguese", "portugais", "portugués", "葡萄牙"),
    "Poland": ("pl", "pol", "polish", "polen", "pologne", "polonia", "波兰"),
    "Sweden": ("se", "swe", "swedish", "schweden", "suède", "suecia", "瑞典"),
    "Denmark": ("dk", "dnk", "danish", "dänemark", "danemark", "dinamarca", "丹麦"),
    "Norway": ("no", "nor", "norwegian", "norwegen", "norvège", "noruega", "挪威"),
    "Finland": ("fi", "fin", "finnish", "finnland", "finlande", "finlandia", "芬兰"),
    "Greece": ("gr", "grc", "greek", "griechenland", "grèce", "grecia", "希腊"),
    "Australia": ("au", "aus", "australian", "australien", "australie", "澳大利亚"),
    "Canada": ("ca", "can", "canadian", "kanada", "canadá", "加拿大"),
    "Japan": ("jp", "jpn", "japanese", "japon", "japón", "日本"),
    "China": ("cn", "chn", "chinese", "chine", "中国"),
}


# German adjectives of the countries, as before "Kunden" ("deutsche Kunden", "Welche
# deutschen Kunden ..."): a stem each, with its endings
_GERMAN_STEMS = {"United Kingdom": ("britisch", "englisch"), "Ireland": ("irisch",),
                 "USA": ("amerikanisch", "us-amerikanisch"), "Germany": ("deutsch",),
                 "France": ("französisch",), "Spain": ("spanisch",),
                 "Netherlands": ("niederländisch", "holländisch"), "Italy": ("italienisch",),
                 "Switzerland": ("schweizerisch",), "Belgium": ("belgisch",),
                 "Austria": ("österreichisch",), "Portugal": ("portugiesisch",),
                 "Poland": ("polnisch",), "Sweden": ("schwedisch",), "Denmark": ("dänisch",),
                 "Norway": ("norwegisch",), "Finland": ("finnisch",),
                 "Greece": ("griechisch",), "Australia": ("australisch",),
                 "Canada": ("kanadisch",), "Japan": ("japanisch",), "China": ("chinesisch",)}
GERMAN_DEMONYMS = frozenset(f"{stem}{ending}" for stems in _GERMAN_STEMS.values()
                            for stem in stems for ending in ("e", "en"))
COUNTRY_NAMES = {english: (*others, *(f"{stem}{ending}" for stem in _GERMAN_STEMS.get(english, ())
                                      for ending in ("e", "en")))
                 for english, others in COUNTRY_NAMES.items()}


# A country's name in an answer: (Chinese, German, French, Spanish)
_COUNTRY_WORDS = _by_language({
    "United Kingdom": ("英国", "Großbritannien", "Royaume-Uni", "Reino Unido"),
    "Ireland": ("爱尔兰", "Irland", "Irlande", "Irlanda"),
    "USA": ("美国", "USA", "États-Unis", "Estados Unidos"),
    "Germany": ("德国", "Deutschland", "Allemagne", "Alemania"),
    "France": ("法国", "Frankreich", "France", "Francia"),
    "Spain": ("西班牙", "Spanien", "Espagne", "España"),
    "Netherlands": ("荷兰", "Niederlande", "Pays-Bas", "Países Bajos"),
    "Italy": ("意大利", "Italien", "Italie", "Italia"),
    "Switzerland": ("瑞士", "Schweiz", "Suisse", "Suiza"),
    "Belgium": ("比利时", "Belgien", "Belgique", "Bélgica"),
    "Austria": ("奥地利", "Österreich", "Autriche", "Austria"),
    "Portugal": ("葡萄牙", "Portugal", "Portugal", "Portugal"),
    "Poland": ("波兰", "Polen", "Pologne", "Polonia"),
    "Sweden": ("瑞典", "Schweden", "Suède", "Suecia"),
    "Denmark": ("丹麦", "Dänemark", "Danemark", "Dinamarca"),
    "Norway": ("挪威", "Norwegen", "Norvège", "Noruega"),
    "Finland": ("芬兰", "Finnland", "Finlande", "Finlandia"),
    "Greece": ("希腊", "Griechenland", "Grèce", "Grecia"),
    "Australia": ("澳大利亚", "Australien", "Australie", "Australia"),
    "Canada": ("加拿大", "Kanada", "Canada", "Canadá"),
    "Japan": ("日本", "Japan", "Japon", "Japón"),
    "China": ("中国", "China", "Chine", "China"),
})


def country_name(name: str, lang: str) -> str:
    """A country of the data ("Germany", "EIRE") as an answer in ``lang`` names it
    ("Deutschland", "Irlande"); the data's own name in English, or for a country this
    table does not know."""
    if lang == "en":
        return name
    wanted = country_aliases(name)
    english = next((key for key in COUNTRY_NAMES if key.lower() in wanted), None)
    return _COUNTRY_WORDS[lang].get(english or "", name)


def country_aliases(name: str) -> frozenset[str]:
    """Every lower-case way of writing a country: its English name and its other names."""
    for english, others in COUNTRY_NAMES.items():
        names = {english.lower(), *others}
        if name.strip().lower() in names:
            return frozenset(names)
    return frozenset({name.strip().lower()})


def model_words(name: str | None, lang: str) -> str:
    """A churn model's name (``blend``, ``heuristic``, ...) in words, in ``lang``."""
    english = _MODEL_NAMES.get(name or "", name or "—")
    return _MODEL_WORDS.get(lang, {}).get(english, english)


# Table headers, ranking criteria and why a product is recommended, by their English
# words: (Chinese, German, French, Spanish).
_WORDS = _by_language({
    "segment": ("用户群", "Segment", "segment", "segmento"),
    "customers": ("客户数", "Kunden", "clients", "clientes"),
    "mean churn": ("平均流失概率", "mittlere Abwanderung", "attrition moyenne", "abandono medio"),
    "revenue at risk": ("风险收入", "gefährdeter Umsatz", "CA à risque", "ingresos en riesgo"),
    "churn change": (
        "流失概率变化",
        "Änderung Abwanderung",
        "variation de l'attrition",
        "cambio del abandono"),
    "revenue share": ("收入占比", "Umsatzanteil", "part du CA", "cuota de ingresos"),
    "mean CLV": ("平均预测价值", "mittlerer CLV", "CLV moyenne", "CLV medio"),
    "customer": ("客户", "Kunde", "client", "cliente"),
    "month": ("月份", "Monat", "mois", "mes"),
    "cluster": ("行为分群", "Cluster", "groupe", "grupo"),
    "how they buy": ("购买方式", "wie sie kaufen", "comment ils achètent", "cómo compran"),
    "warning sign": ("预警信号", "Warnzeichen", "signe d'alerte", "señal de alerta"),
    "share of customers": ("客户占比", "Anteil der Kunden", "part des clients",
                           "cuota de clientes"),
    "active customers": ("活跃客户", "aktive Kunden", "clients actifs", "clientes activos"),
    "new customers": ("新客户", "Neukunden", "nouveaux clients", "clientes nuevos"),
    "months after the first order": ("首单后第几个月", "Monate nach der ersten Bestellung",
                                     "mois après la première commande",
                                     "meses tras el primer pedido"),
    "this cohort": ("该批客户", "diese Kohorte", "cette cohorte", "esta cohorte"),
    "average cohort": ("平均水平", "durchschnittliche Kohorte", "cohorte moyenne",
                       "cohorte media"),
    "days since the last order": ("距上次下单天数", "Tage seit der letzten Bestellung",
                                  "jours depuis la dernière commande",
                                  "días desde el último pedido"),
    "churn probability": (
        "流失概率",
        "Abwanderungswahrscheinlichkeit",
        "probabilité d'attrition",
        "probabilidad de abandono"),
    "why": ("原因", "Gründe", "raisons", "motivos"),
    "predicted value": ("预测价值", "vorhergesagter Wert", "valeur prévue", "valor previsto"),
    "spend to date": ("累计消费", "Umsatz bisher", "dépenses à ce jour", "gasto hasta la fecha"),
    "spend in the last {d} days": ("最近 {d} 天的消费", "Umsatz der letzten {d} Tage",
                                   "dépenses des {d} derniers jours",
                                   "gasto de los últimos {d} días"),
    "orders in the last {d} days": ("最近 {d} 天的订单数", "Bestellungen der letzten {d} Tage",
                                    "commandes des {d} derniers jours",
                                    "pedidos de los últimos {d} días"),
    "orders": ("订单数", "Bestellungen", "commandes", "pedidos"),
    "average order": ("平均订单金额", "Ø-Bestellwert", "panier moyen", "ticket medio"),
    "cohort": ("批次", "Kohorte", "cohorte", "cohorte"),
    "1st month": ("第 1 个月", "1. Monat", "1er mois", "1.er mes"),
    "3rd month": ("第 3 个月", "3. Monat", "3e mois", "3.er mes"),
    "6th month": ("第 6 个月", "6. Monat", "6e mois", "6.º mes"),
    "before": ("之前", "davor", "avant", "antes"),
    "change": ("变化", "Veränderung", "variation", "cambio"),
    "change %": ("变化率", "Veränderung %", "variation %", "cambio %"),
    "bought with": ("搭配商品", "gekauft mit", "acheté avec", "comprado con"),
    "together": ("共同购买", "zusammen", "ensemble", "juntos"),
    "confidence": ("置信度", "Konfidenz", "confiance", "confianza"),
    "lift": ("提升度", "Lift", "lift", "lift"),
    "product": ("商品", "Produkt", "produit", "producto"),
    "name": ("名称", "Name", "nom", "nombre"),
    "revenue": ("收入", "Umsatz", "chiffre d'affaires", "ingresos"),
    "units": ("销量", "Stück", "unités", "unidades"),
    "country": ("国家/地区", "Land", "pays", "país"),
    "channel": ("渠道", "Kanal", "canal", "canal"),
    "number of orders": (
        "订单数",
        "Anzahl der Bestellungen",
        "nombre de commandes",
        "número de pedidos"),
    "average order value": (
        "平均订单金额",
        "durchschnittlichem Bestellwert",
        "panier moyen",
        "ticket medio"),
    "number of customers": (
        "购买客户数",
        "Anzahl der Kunden",
        "nombre de clients",
        "número de clientes"),
    "units sold": ("销量", "verkaufter Stückzahl", "unités vendues", "unidades vendidas"),
    "predicted value over the next {h} days": (
        "未来 {h} 天预测价值",
        "vorhergesagtem Wert in den nächsten {h} Tagen",
        "valeur prévue sur les {h} prochains jours",
        "valor previsto en los próximos {h} días"),
    "revenue at risk over the next {h} days": (
        "未来 {h} 天风险收入",
        "gefährdetem Umsatz in den nächsten {h} Tagen",
        "chiffre d'affaires à risque sur les {h} prochains jours",
        "ingresos en riesgo en los próximos {h} días"),
    "expected orders over the next {h} days": (
        "未来 {h} 天预期订单数",
        "erwarteten Bestellungen in den nächsten {h} Tagen",
        "commandes attendues sur les {h} prochains jours",
        "pedidos esperados en los próximos {h} días"),
    "expected orders": ("预期订单数", "erwartete Bestellungen", "commandes attendues",
                        "pedidos esperados"),
    "churn probability over the next {h} days": (
        "未来 {h} 天流失概率",
        "Abwanderungswahrscheinlichkeit in den nächsten {h} Tagen",
        "probabilité d'attrition sur les {h} prochains jours",
        "probabilidad de abandono en los próximos {h} días"),
    "buy_again": ("再次购买", "erneut kaufen", "à racheter", "volver a comprar"),
    "similar": (
        "相似客户也买了",
        "ähnliche Kunden kauften es",
        "acheté par des clients proches",
        "lo compraron clientes parecidos"),
    "popular": ("近期热销", "gerade beliebt", "populaire en ce moment", "popular ahora"),
})


# What each segment is called in Chinese RFM practice, written after its name in Chinese
# answers; each gloss names its own segment again when typed back (see SEGMENT_SYNONYMS).
ZH_SEGMENTS = {
    "Champions": "重要价值客户", "Loyal Customers": "忠诚客户",
    "Potential Loyalists": "潜力客户", "New Customers": "新客户", "Promising": "新晋客户",
    "Need Attention": "需要关注客户", "About To Sleep": "即将沉睡客户",
    "At Risk": "高价值流失风险客户", "Cannot Lose Them": "不能失去的客户",
    "Hibernating": "沉睡客户", "Lost": "已流失客户",
}

# The forms of a churn reason as analytics.churn.churn_reasons writes them, and each form's
# words in each language (in the same order).
_REASON_FORMS = (
    r"no order for (\d+) days, ([\d.]+)× their usual gap of (\d+) days",
    r"one order only, (\d+) days ago",
    r"1 order in the last (\d+) days against (\d+) in the (\d+) before",
    r"(\d+) orders in the last (\d+) days against (\d+) in the (\d+) before",
    r"no order for (\d+) days",
    r"all (\d+) orders on one day, (\d+) days ago",
    r"orders about every (\d+) days, less often than every (\d+) days",
    r"only (\d+) orders so far",
    r"buying at their usual pace",
)
_REASONS: dict[str, tuple[str, ...]] = {
    "zh": (r"已 \1 天未下单，是其平均间隔 \3 天的 \2 倍",
           r"只下过一单，在 \1 天前",
           r"最近 \1 天下了一单，之前 \3 天为 \2 单",
           r"最近 \2 天下了 \1 单，之前 \4 天为 \3 单",
           r"已 \1 天未下单",
           r"全部 \1 单都在同一天，\2 天前",
           r"约每 \1 天下一单，少于每 \2 天一单",
           r"目前只下过 \1 单",
           "按平常的节奏购买"),
    "de": (r"seit \1 Tagen keine Bestellung, \2× der übliche Abstand von \3 Tagen",
           r"nur eine Bestellung, vor \1 Tagen",
           r"1 Bestellung in den letzten \1 Tagen gegenüber \2 in den \3 Tagen davor",
           r"\1 Bestellungen in den letzten \2 Tagen gegenüber \3 in den \4 Tagen davor",
           r"seit \1 Tagen keine Bestellung",
           r"alle \1 Bestellungen an einem Tag, vor \2 Tagen",
           r"bestellt etwa alle \1 Tage, seltener als alle \2 Tage",
           r"erst \1 Bestellungen",
           "kauft im gewohnten Rhythmus"),
    "fr": (r"aucune commande depuis \1 jours, \2× l'intervalle habituel de \3 jours",
           r"une seule commande, il y a \1 jours",
           r"1 commande sur les \1 derniers jours contre \2 sur les \3 jours d'avant",
           r"\1 commandes sur les \2 derniers jours contre \3 sur les \4 jours d'avant",
           r"aucune commande depuis \1 jours",
           r"les \1 commandes le même jour, il y a \2 jours",
           r"commande environ tous les \1 jours, moins souvent que tous les \2 jours",
           r"seulement \1 commandes jusqu'ici",
           "achète à son rythme habituel"),
    "es": (r"sin pedidos desde hace \1 días, \2× su intervalo habitual de \3 días",
           r"un solo pedido, hace \1 días",
           r"1 pedido en los últimos \1 días frente a \2 en los \3 días anteriores",
           r"\1 pedidos en los últimos \2 días frente a \3 en los \4 días anteriores",
           r"sin pedidos desde hace \1 días",
           r"los \1 pedidos en un mismo día, hace \2 días",
           r"pide cada \1 días aprox., con menos frecuencia que cada \2 días",
           r"solo \1 pedidos hasta ahora",
           "compra a su ritmo habitual"),
}
# The words between a customer's reasons.
_REASON_JOIN = {"zh": "；"}


def reasons(text: str | None, lang: str) -> str | None:
    """A customer's churn reasons in the answer's language (a reason of an unknown form
    stays as written)."""
    if lang not in _REASONS or not text:
        return text
    parts = []
    for part in text.split("; "):
        for pattern, words in zip(_REASON_FORMS, _REASONS[lang], strict=True):
            if match := re.fullmatch(pattern, part):
                part = match.expand(words)
                break
        parts.append(part)
    return _REASON_JOIN.get(lang, "; ").join(parts)


# A cluster's label as analytics.clusters writes it, and its words in each language.
_CLUSTER_LABEL = re.compile(r"(one-time|occasional|regular|frequent) (low|mid|high)-basket "
                            r"(coupon-driven )?buyers(?:, (active|lapsing|lapsed))?"
                            r"(?: \(group (\d+)\))?")
_CLUSTER_WORDS: dict[str, dict[str, str]] = {
    "zh": {"one-time": "一次性", "occasional": "偶尔购买的", "regular": "定期购买的",
           "frequent": "高频", "low": "低客单", "mid": "中客单", "high": "高客单",
           "active": "活跃", "lapsing": "趋于流失", "lapsed": "已流失",
           "coupons": "、依赖优惠券的", "buyers": "{often}{basket}{coupons}买家",
           "then": "，{activity}", "group": "（第 {group} 组）"},
    "de": {"one-time": "Einmalkäufer", "occasional": "Gelegenheitskäufer",
           "regular": "Stammkäufer", "frequent": "Vielkäufer", "low": "kleinem",
           "mid": "mittlerem", "high": "großem", "active": "aktiv", "lapsing": "nachlassend",
           "lapsed": "inaktiv", "coupons": ", gutscheinorientiert",
           "buyers": "{often} mit {basket} Warenkorb{coupons}", "then": ", {activity}",
           "group": " (Gruppe {group})"},
    "fr": {"one-time": "acheteurs uniques", "occasional": "acheteurs occasionnels",
           "regular": "acheteurs réguliers", "frequent": "acheteurs fréquents",
           "low": "petit panier", "mid": "panier moyen", "high": "gros panier",
           "active": "actifs", "lapsing": "en perte de vitesse", "lapsed": "inactifs",
           "coupons": " attirés par les coupons",
           "buyers": "{often} à {basket}{coupons}", "then": ", {activity}",
           "group": " (groupe {group})"},
    "es": {"one-time": "compradores de una vez", "occasional": "compradores ocasionales",
           "regular": "compradores habituales", "frequent": "compradores frecuentes",
           "low": "pequeña", "mid": "mediana", "high": "grande", "active": "activos",
           "lapsing": "en declive", "lapsed": "inactivos", "coupons": " atraídos por cupones",
           "buyers": "{often} de cesta {basket}{coupons}", "then": ", {activity}",
           "group": " (grupo {group})"},
}


def cluster_label(label: str | None, lang: str) -> str | None:
    """A cluster's label in the answer's language (an unknown one stays as written)."""
    words = _CLUSTER_WORDS.get(lang)
    match = _CLUSTER_LABEL.fullmatch(label or "") if words else None
    if not match or words is None:
        return label
    often, basket, coupons, activity, group = match.groups()
    text = words["buyers"].format(often=words[often], basket=words[basket],
                                  coupons=words["coupons"] if coupons else "")
    text += words["then"].format(activity=words[activity]) if activity else ""
    return text + (words["group"].format(group=group) if group else "")


def say(lang: str, key: str, **values: Any) -> str:
    """A phrase an answer writes around its template, filled."""
    return PHRASES[lang][key].format(**values)


def orders(lang: str, n: Any) -> str:
    """"1 order", "3 orders" in the answer's language."""
    return say(lang, "one_order" if n == 1 else "orders", n=n)


def word(lang: str, english: str) -> str:
    """A table header or ranking criterion in the answer's language."""
    return _WORDS.get(lang, {}).get(english, english)


# How German, French and Spanish write 1,234.5 and 12.3%: (thousands, decimal, before "%")
_SEPARATORS = {"de": (".", ",", ""), "es": (".", ",", ""), "fr": ("\u202f", ",", "\u202f")}
# An English-written number: thousands with commas, decimals after a point; not a part of a
# date (2025-10-31), an id or code (85123A, 004217 stay as they are), a version (1.4.7)
_ENGLISH_NUMBER = re.compile(r"(?<![\w.,/:])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?!\w|[.,]\d)"
                             r"(%?)")


def local_numbers(text: str, lang: str) -> str:
    """``text``'s numbers written as ``lang`` writes them: "2,090 customers" and "12.3%"
    read "2.090" and "12,3%" in German and Spanish, "2 090" and "12,3 %" (narrow spaces) in
    French; English and Chinese keep "2,090" and "12.3%"."""
    if lang not in _SEPARATORS:
        return text
    thousands, decimal, before_percent = _SEPARATORS[lang]

    def local(match: re.Match[str]) -> str:
        whole, fraction, percent = match.groups()
        if "," not in whole and not fraction:
            return match.group(0)  # "90", "2025": nothing to write otherwise
        return (whole.replace(",", thousands) + (decimal + fraction[1:] if fraction else "")
                + (before_percent + percent if percent else ""))

    return _ENGLISH_NUMBER.sub(local, text)


def segment_name(name: str | None, lang: str) -> str | None:
    """A segment's name, with its Chinese name beside it in a Chinese answer."""
    gloss = ZH_SEGMENTS.get(name or "") if lang == "zh" else None
    return f"{name}（{gloss}）" if gloss else name


# A campaign plan's words (analytics.campaigns): its offers and channels, the bounds that set
# its discount, and how a rationale is written with them: (Chinese, German, French, Spanish).
_PLAN_WORDS = _by_language({
    "VIP early access and a loyalty reward": (
        "VIP 抢先购与忠诚奖励",
        "VIP-Vorabzugang und eine Treueprämie",
        "accès VIP en avant-première et une récompense fidélité",
        "acceso VIP anticipado y una recompensa de fidelidad"),
    "loyalty points multiplier": (
        "积分加倍",
        "Treuepunkte-Multiplikator",
        "multiplicateur de points fidélité",
        "multiplicador de puntos de fidelidad"),
    "frequent-buyer reward on the next order": (
        "下一单的常客奖励",
        "Stammkunden-Bonus auf die nächste Bestellung",
        "récompense client fidèle sur la prochaine commande",
        "recompensa de cliente frecuente en el próximo pedido"),
    "second-order coupon": (
        "第二单优惠券",
        "Gutschein für die zweite Bestellung",
        "bon pour la deuxième commande",
        "cupón para el segundo pedido"),
    "personalised recommendations with a limited-time offer": (
        "个性化推荐加限时优惠",
        "persönliche Empfehlungen mit befristetem Angebot",
        "recommandations personnalisées avec une offre limitée",
        "recomendaciones personalizadas con una oferta por tiempo limitado"),
    "threshold discount (spend more, save more)": (
        "满减优惠（多买多省）",
        "Staffelrabatt (mehr kaufen, mehr sparen)",
        "remise par palier (plus d'achats, plus d'économies)",
        "descuento por tramos (compra más, ahorra más)"),
    "win-back coupon": (
        "召回优惠券",
        "Rückgewinnungsgutschein",
        "bon de reconquête",
        "cupón de recuperación"),
    "personal win-back offer with VIP care": (
        "专属召回优惠与 VIP 关怀",
        "persönliches Rückgewinnungsangebot mit VIP-Betreuung",
        "offre de reconquête personnelle avec attention VIP",
        "oferta de recuperación personal con atención VIP"),
    "last-chance win-back coupon": (
        "最后机会召回优惠券",
        "Letzte-Chance-Rückgewinnungsgutschein",
        "bon de reconquête de la dernière chance",
        "cupón de recuperación de última oportunidad"),
    "personalised offer": (
        "个性化优惠",
        "persönliches Angebot",
        "offre personnalisée",
        "oferta personalizada"),
    "email": ("邮件", "E-Mail", "e-mail", "correo electrónico"),
    "sms": ("短信", "SMS", "SMS", "SMS"),
    "push": ("推送", "Push-Nachricht", "notification push", "notificación push"),
    "app": ("App 内消息", "App", "application", "aplicación"),
    "the segment's usual offer": (
        "该用户群的常规优惠",
        "das übliche Angebot des Segments",
        "l'offre habituelle du segment",
        "la oferta habitual del segmento"),
    "the usual win-back offer": (
        "常规召回优惠",
        "das übliche Rückgewinnungsangebot",
        "l'offre de reconquête habituelle",
        "la oferta de recuperación habitual"),
    "the usual cross-sell offer": (
        "常规交叉销售优惠",
        "das übliche Cross-Selling-Angebot",
        "l'offre de vente croisée habituelle",
        "la oferta de venta cruzada habitual"),
    "the usual second-order offer": (
        "常规第二单优惠",
        "das übliche Angebot für die zweite Bestellung",
        "l'offre habituelle pour la deuxième commande",
        "la oferta habitual para el segundo pedido"),
    "half the gross margin": (
        "毛利率的一半",
        "die halbe Bruttomarge",
        "la moitié de la marge brute",
        "la mitad del margen bruto"),
    "your discount cap": (
        "您设定的折扣上限",
        "Ihre Rabattgrenze",
        "votre plafond de remise",
        "tu tope de descuento"),
    "30% of predicted CLV per order": (
        "每单预测 CLV 的 30%",
        "30% des vorhergesagten CLV pro Bestellung",
        "30% de la CLV prévue par commande",
        "el 30% del CLV previsto por pedido"),
    "set by": (
        "{pct}，由{binding}决定（{bounds}）",
        "{pct}, bestimmt durch {binding} ({bounds})",
        "{pct}, fixé par {binding} ({bounds})",
        "{pct}, fijado por {binding} ({bounds})"),
})
_PLAN_FORMS = (
    r"their median gap between orders is (\d+) days and they last ordered (\d+) days ago "
    r"\(median\): reach them within (\d+) days",
    r"they are already past their usual gap of (\d+) days \(median recency (\d+) days\): "
    r"send within a week",
    r"most have a single order, (\d+) days ago \(median\): send within a week",
    r"the budget of ([\d,]+) covers ([\d,]+) of ([\d,]+) customers; the plan keeps those with "
    r"the most revenue at risk",
    r"to detect a (\d+%) uplift the test needs ([\d,]+) customers per group but the holdout "
    r"has ([\d,]+): treat the result as directional, or run the campaign longer or on more "
    r"segments",
    r"cross-sell offer on (.+)",
)
_PLANS: dict[str, tuple[str, ...]] = {
    "zh": (r"他们下单的中位间隔为 \1 天，最近一次下单在 \2 天前（中位数）：在 \3 天内触达",
           r"他们已超过通常 \1 天的下单间隔（最近一次下单的中位数为 \2 天前）：一周内发送",
           r"多数只下过一单，在 \1 天前（中位数）：一周内发送",
           r"预算 \1 覆盖 \3 位客户中的 \2 位；方案保留风险收入最高的客户",
           r"要检测 \1 的提升，每组需要 \2 位客户，但对照组只有 \3 位：把结果视为方向性参考，"
           r"或延长活动、覆盖更多用户群",
           r"\1 的交叉销售优惠"),
    "de": (r"ihr mittlerer Bestellabstand beträgt \1 Tage, die letzte Bestellung liegt \2 Tage "
           r"zurück (Median): innerhalb von \3 Tagen erreichen",
           r"sie haben ihren üblichen Abstand von \1 Tagen schon überschritten (letzte "
           r"Bestellung im Median vor \2 Tagen): innerhalb einer Woche senden",
           r"die meisten haben eine einzige Bestellung, vor \1 Tagen (Median): innerhalb einer "
           r"Woche senden",
           r"das Budget von \1 reicht für \2 von \3 Kunden; der Plan behält die mit dem meisten "
           r"gefährdeten Umsatz",
           r"um eine Steigerung um \1 zu erkennen, braucht der Test \2 Kunden pro Gruppe, die "
           r"Kontrollgruppe hat aber \3: lesen Sie das Ergebnis als Richtung, oder lassen Sie "
           r"die Kampagne länger oder in mehr Segmenten laufen",
           r"Cross-Selling-Angebot für \1"),
    "fr": (r"leur intervalle médian entre deux commandes est de \1 jours et leur dernière "
           r"commande date de \2 jours (médiane) : les contacter sous \3 jours",
           r"ils ont déjà dépassé leur intervalle habituel de \1 jours (dernière commande il y "
           r"a \2 jours en médiane) : envoyer sous une semaine",
           r"la plupart n'ont qu'une commande, il y a \1 jours (médiane) : envoyer sous une "
           r"semaine",
           r"le budget de \1 couvre \2 des \3 clients ; le plan garde ceux qui ont le plus de "
           r"chiffre d'affaires à risque",
           r"pour détecter une hausse de \1, le test demande \2 clients par groupe mais le "
           r"groupe témoin en a \3 : lisez le résultat comme une tendance, ou prolongez la "
           r"campagne ou étendez-la à d'autres segments",
           r"offre de vente croisée sur \1"),
    "es": (r"su intervalo mediano entre pedidos es de \1 días y su último pedido fue hace \2 "
           r"días (mediana): contactarlos en \3 días",
           r"ya han superado su intervalo habitual de \1 días (último pedido hace \2 días de "
           r"mediana): enviar en una semana",
           r"la mayoría tiene un solo pedido, hace \1 días (mediana): enviar en una semana",
           r"el presupuesto de \1 cubre \2 de \3 clientes; el plan se queda con los de más "
           r"ingresos en riesgo",
           r"para detectar una mejora de \1 la prueba necesita \2 clientes por grupo pero el "
           r"grupo de control tiene \3: lee el resultado como orientativo, o alarga la campaña "
           r"o amplíala a más segmentos",
           r"oferta de venta cruzada de \1"),
}
_SET_BY = re.compile(r"(\d+%), set by (.+?) \((.+)\)")


def plan_text(text: str | None, lang: str) -> str | None:
    """A campaign plan's offer, channel, discount rationale, timing or warning in the
    answer's language (text of an unknown form stays as written)."""
    words = _PLAN_WORDS.get(lang)
    if words is None or not text:
        return text
    if text in words:
        return words[text]
    if match := _SET_BY.fullmatch(text):
        pct, binding, bounds = match.groups()  # bounds: "name 15%, name 20%, ..."
        named = [f"{words.get(name, name)} {value}"
                 for name, value in re.findall(r"(.+?) (\d+%)(?:, |$)", bounds)]
        return words["set by"].format(pct=pct, binding=words.get(binding, binding),
                                      bounds=("，" if lang == "zh" else ", ").join(named))
    for pattern, translated in zip(_PLAN_FORMS, _PLANS[lang], strict=True):
        if match := re.fullmatch(pattern, text):
            return match.expand(translated)
    return text
