"""The agent loop with a scripted model, the offline advisor, privacy, and a real HTTP
OpenAI-compatible server on 127.0.0.1."""

import dataclasses
import hashlib
import json
import re
import string
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pandas as pd
import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import ToolException

from advisor import tools as tools_module
from advisor.agent import Advisor
from advisor.languages import (
    LANGUAGES,
    PHRASES,
    cluster_label,
    language,
    plan_text,
    reasons,
    say,
    word,
)
from advisor.offline import _templates, find_segment, interpret, resolve
from advisor.settings import load_settings
from advisor.tools import AdvisorContext, ToolFunctions, build_tools
from analytics.campaigns import DEFAULT_PLAYS, Constraints, plan_campaign
from analytics.churn import churn_reasons
from analytics.cleaning import clean_orders
from analytics.pipeline import analyze, analyze_file
from analytics.sample import generate_sample_shop
from tests.fakes import ScriptedChatModel, tool_call

OFFLINE = load_settings({}, env_file=None)


@pytest.fixture(scope="module")
def context(sample_analysis) -> AdvisorContext:
    return AdvisorContext(sample_analysis)


def test_tool_call_then_answer(context):
    model = ScriptedChatModel(script=[tool_call("churning_segments"),
                                      AIMessage(content="At Risk is churning.")])
    result = Advisor(context, OFFLINE, model=model).ask("which segment is churning?")
    assert result.answer == "At Risk is churning."
    assert [c["name"] for c in result.tool_calls] == ["churning_segments"]
    segments = result.tool_calls[0]["result"]["segments"]
    top = context.analysis.segments.query("kind == 'rfm'").nlargest(1, "revenue_at_risk")
    assert segments[0]["segment"] == top["segment"].iloc[0]
    # the model saw the tool result before answering
    assert isinstance(model.received[1][-1], ToolMessage)


def test_tool_error_names_valid_choices_and_the_model_recovers(context):
    model = ScriptedChatModel(script=[
        tool_call("at_risk_customers", segment="Whales", top=3),
        tool_call("at_risk_customers", call_id="call_2", segment="At Risk", top=3),
        AIMessage(content="Here they are."),
    ])
    result = Advisor(context, OFFLINE, model=model).ask("top 3 whales at risk")
    error = model.received[1][-1]
    assert isinstance(error, ToolMessage) and error.status == "error"
    assert "unknown segment 'Whales'" in error.content and "At Risk" in error.content
    assert result.answer == "Here they are."
    assert len(result.tool_calls[1]["result"]["customers"]) == 3


def test_streaming_yields_tool_steps_and_tokens(context):
    advisor = Advisor(context, OFFLINE)
    events = list(advisor.stream("which segment is churning?"))
    kinds = [e.kind for e in events]
    assert kinds[0] == "tool_call" and "tool_result" in kinds
    tokens = [e for e in events if e.kind == "token"]
    assert len(tokens) > 5  # the answer arrives word by word
    result = next(e for e in events if e.kind == "tool_result")
    assert result.seconds is not None and result.seconds >= 0


@pytest.mark.parametrize("failure", [TimeoutError("read timed out"),
                                     RuntimeError("model exploded")])
def test_a_failing_model_gives_a_message_not_a_crash(context, failure):
    model = ScriptedChatModel(script=[failure])
    result = Advisor(context, OFFLINE, model=model).ask("which segment is churning?")
    assert result.error and "language model" in result.error
    assert "Traceback" not in result.answer


def test_memory_is_kept_per_session(context):
    model = ScriptedChatModel(script=[AIMessage(content="one"), AIMessage(content="two"),
                                      AIMessage(content="three")])
    advisor = Advisor(context, OFFLINE, model=model)
    advisor.ask("first question", session_id="a")
    advisor.ask("second question", session_id="a")
    advisor.ask("other session", session_id="b")
    seen = [[m.content for m in call if m.type == "human"] for call in model.received]
    assert seen[1] == ["first question", "second question"]
    assert seen[2] == ["other session"]


@pytest.mark.parametrize("question, tool, args", [
    ("which segment is churning?", "churning_segments", {}),
    ("哪个用户群在流失？", "churning_segments", {}),
    ("how much revenue is at risk?", "churning_segments", {}),
    ("show me customer 004217", "customer_profile", {"customer_id": "004217"}),
    ("top 20 at-risk customers in Champions", "at_risk_customers",
     {"top": 20, "segment": "Champions"}),
    ("draft a win-back campaign for At Risk customers with a 10% discount cap",
     "campaign_plan", {"segment": "At Risk", "discount_cap": 0.10}),
    ("campaign for hibernatng customers, budget 5000 by sms", "campaign_plan",
     {"segment": "Hibernating", "budget": 5000.0, "channel": "sms"}),
    ("给高价值流失风险用户设计一个召回活动", "campaign_plan",
     {"segment": "At Risk", "language": "zh"}),
    ("what products should I recommend to customer 000123", "recommendations",
     {"customer_id": "000123"}),
    ("how big should the holdout be for an A/B test on loyal customers?", "ab_test_plan",
     {"segment": "Loyal Customers"}),
    ("how do I design a birthday coupon?", "playbook_search",
     {"query": "how do I design a birthday coupon?"}),
    ("cohort retention please", "cohort_retention", {}),
    ("what is the lifetime value of cannot lose them?", "clv_summary",
     {"segment": "Cannot Lose Them"}),
    # "customers" alone names no segment (it once matched New Customers as a typo)
    ("list the customers most likely to churn", "at_risk_customers", {"top": 10}),
    ("what's the lifetime value of my customers?", "clv_summary", {}),
    ("show me the 20 customers with the most revenue at risk", "at_risk_customers",
     {"top": 20}),
    ("which champions are about to churn?", "at_risk_customers",
     {"top": 10, "segment": "Champions"}),
    ("top 5 customers by lifetime value", "top_customers", {"top": 5, "by": "predicted_clv"}),
    ("who are my best customers?", "top_customers", {"top": 10, "by": "monetary"}),
    ("which customers order most often?", "top_customers", {"top": 10, "by": "frequency"}),
    ("rank customers by average order value", "top_customers",
     {"top": 10, "by": "avg_order_value"}),
    ("top 3 loyal customers by spend", "top_customers",
     {"top": 3, "by": "monetary", "segment": "Loyal Customers"}),
    ("前5名最有价值的客户", "top_customers", {"top": 5, "by": "predicted_clv"}),
    ("how many customers do we have?", "shop_kpis", {}),
    ("what is the average order value?", "shop_kpis", {}),
    ("客单价是多少？", "shop_kpis", {}),
    ("what should I do for at risk customers?", "playbook_search",
     {"query": "what should I do for at risk customers?", "segment": "At Risk"}),
    ("how do I reduce churn?", "playbook_search", {"query": "how do I reduce churn?"}),
    ("how well do we retain customers month to month?", "cohort_retention", {}),
    ("show me the segments", "segment_overview", {}),  # "show" holds "how": not a how-to
    # the main questions in German, French and Spanish
    ("Welches Segment wandert ab?", "churning_segments", {}),
    ("Welche Kunden sind abwanderungsgefährdet?", "at_risk_customers", {"top": 10}),
    ("Wie hoch ist der durchschnittliche Bestellwert?", "shop_kpis", {}),
    ("Quel segment perd le plus de clients ?", "churning_segments", {}),
    ("Quels clients risquent de partir ?", "at_risk_customers", {"top": 10}),
    ("¿Cuántos clientes tenemos?", "shop_kpis", {}),
    ("Erstelle eine Kampagne für Hibernating", "campaign_plan",
     {"segment": "Hibernating", "language": "de"}),
    # one segment's churn; products; countries and channels; lapsed customers
    ("what is the churn rate of Champions?", "churning_segments", {"segment": "Champions"}),
    ("is At Risk churning?", "churning_segments", {"segment": "At Risk"}),
    ("how much revenue do we have at risk in Champions?", "churning_segments",
     {"segment": "Champions"}),
    ("which products sell best?", "top_products", {"by": "revenue", "top": 10}),
    ("what do Champions buy?", "top_products",
     {"by": "revenue", "top": 10, "segment": "Champions"}),
    ("most popular products among loyal customers", "top_products",
     {"by": "customers", "top": 10, "segment": "Loyal Customers"}),
    ("top 5 products by units", "top_products", {"by": "quantity", "top": 5}),
    ("Was sind unsere meistverkauften Produkte?", "top_products", {"by": "revenue", "top": 10}),
    ("which country has the most customers at risk?", "breakdown", {"by": "country"}),
    ("revenue by channel", "breakdown", {"by": "channel"}),
    ("which channel should I use for hibernating customers?", "playbook_search",
     {"query": "which channel should I use for hibernating customers?",
      "segment": "Hibernating"}),
    ("how many customers did we lose last quarter?", "shop_kpis", {}),
    # Chinese: "highest churn risk" is not the At Risk segment; words run together; "X怎么样"
    # asks how X is, not how to do something
    ("流失风险最高的前10位客户", "at_risk_customers", {"top": 10}),
    ("哪个国家的风险收入最多？", "breakdown", {"by": "country"}),
    ("重要价值客户买什么？", "top_products", {"by": "revenue", "top": 10, "segment": "Champions"}),
    ("复购率怎么样？", "cohort_retention", {}),
    ("如何提高复购率？", "playbook_search", {"query": "如何提高复购率？"}),
    # an id that starts with "no" is not "customer no."; an id ends where the Chinese starts
    ("show me customer NOVA7", "customer_profile", {"customer_id": "NOVA7"}),
    ("客户12345的情况", "customer_profile", {"customer_id": "12345"}),
    # how good the models are, in every language (the churn model's is not churn)
    ("how accurate is the churn model?", "model_quality", {}),
    ("can I trust these numbers?", "model_quality", {}),
    ("模型准确吗？", "model_quality", {}),
    ("Wie genau ist das Modell?", "model_quality", {}),
    ("Le modèle est-il fiable ?", "model_quality", {}),
    ("¿Es preciso el modelo?", "model_quality", {}),
    # an uplift in points is a share too; products to recommend to a segment
    ("how many customers do I need in the holdout to detect a 3 point lift?", "ab_test_plan",
     {"segment": "At Risk", "uplift": 0.03}),
    ("A/B test on Champions for 2.5 percentage points", "ab_test_plan",
     {"segment": "Champions", "uplift": 0.025}),
    ("实验检测3个百分点的提升需要多少样本？", "ab_test_plan",
     {"segment": "At Risk", "uplift": 0.03}),
    ("which products should I recommend to At Risk customers?", "top_products",
     {"by": "revenue", "top": 10, "segment": "At Risk"}),
    # how many customers, with the repeat rate: the headline numbers hold both
    ("how many customers do we have and what is our repeat purchase rate?", "shop_kpis", {}),
    # month by month; one month's cohort; segments side by side
    ("what's the average order value trend?", "monthly_trend", {}),
    ("revenue by month", "monthly_trend", {}),
    ("月度销售额趋势", "monthly_trend", {}),
    ("Umsatz pro Monat", "monthly_trend", {}),
    ("évolution du chiffre d'affaires par mois", "monthly_trend", {}),
    ("tendencia de ventas", "monthly_trend", {}),
    ("what is the churn trend?", "churning_segments", {}),
    ("how did the March cohort retain?", "cohort_retention", {"cohort": "3"}),
    ("retention of the 2024-03 cohort", "cohort_retention", {"cohort": "2024-03"}),
    ("2025年3月的新客群留存怎么样？", "cohort_retention", {"cohort": "2025-03"}),
    ("Wie hält die Kohorte vom März?", "cohort_retention", {"cohort": "3"}),
    ("How well do monthly cohorts retain?", "cohort_retention", {}),
    ("compare Champions and Loyal Customers", "segment_overview",
     {"segments": ["Champions", "Loyal Customers"]}),
    ("At Risk vs hibernatng", "segment_overview", {"segments": ["At Risk", "Hibernating"]}),
    ("对比重要价值客户和流失风险用户", "segment_overview",
     {"segments": ["Champions", "At Risk"]}),
    # why customers are at risk: the warning signs of their churn reasons
    ("why is churn risk high for Loyal Customers?", "churn_drivers",
     {"segment": "Loyal Customers"}),
    ("what drives churn?", "churn_drivers", {}),
    # the behavioural clusters; one segment's share; each segment; new customers last month
    ("which cluster is most valuable?", "segment_overview", {"by": "cluster"}),
    ("行为分群有哪些？", "segment_overview", {"by": "cluster"}),
    ("which cluster is churning?", "churning_segments", {"by": "cluster"}),
    ("what share of revenue comes from Champions?", "segment_overview",
     {"segments": ["Champions"]}),
    ("how many customers are in each segment?", "segment_overview", {}),
    ("how many new customers did we get last month?", "monthly_trend", {}),
    # a coupon or discount for a segment is a plan, which sets the depth and says why
    ("what discount should I give At Risk customers?", "campaign_plan", {"segment": "At Risk"}),
    ("send a 20% coupon to Hibernating by sms", "campaign_plan",
     {"segment": "Hibernating", "discount_cap": 0.2, "channel": "sms"}),
    # Chinese writes a discount as what is paid: 8折 is 20% off, 85折 15%
    ("给沉睡客户发一张8折优惠券", "campaign_plan",
     {"segment": "Hibernating", "discount_cap": 0.2, "language": "zh"}),
    ("给沉睡客户发一张85折优惠券", "campaign_plan",
     {"segment": "Hibernating", "discount_cap": 0.15, "language": "zh"}),
    ("重要价值客户占收入的多少？", "segment_overview", {"segments": ["Champions"]}),
    ("上个月新增了多少客户？", "monthly_trend", {}),
    # customers without an order for so long (and how many they are)
    ("which customers haven't ordered in 6 months?", "at_risk_customers",
     {"top": 10, "inactive_days": 180}),
    ("how many customers haven't ordered in 6 months?", "at_risk_customers",
     {"top": 10, "inactive_days": 180}),
    ("customers inactive for 3 months", "at_risk_customers", {"top": 10, "inactive_days": 90}),
    ("list Champions with no order for 60 days", "at_risk_customers",
     {"top": 10, "inactive_days": 60, "segment": "Champions"}),
    ("超过90天没下单的客户", "at_risk_customers", {"top": 10, "inactive_days": 90}),
    # a coupon for them: a plan for that audience, whichever segments it spans
    ("Send a 15% off coupon to customers who haven't ordered in 90 days", "campaign_plan",
     {"inactive_days": 90, "discount_cap": 0.15}),
    ("send a coupon to At Risk customers who haven't ordered in 120 days", "campaign_plan",
     {"inactive_days": 120, "segment": "At Risk"}),
    ("给超过90天没下单的客户发一张9折优惠券", "campaign_plan",
     {"inactive_days": 90, "discount_cap": 0.1, "language": "zh"}),
    ("Schick einen Gutschein an Kunden, die seit 3 Monaten nicht bestellt haben",
     "campaign_plan", {"inactive_days": 90, "language": "de"}),
    ("Give 10% off to customers inactive for 6 months", "campaign_plan",
     {"inactive_days": 180, "discount_cap": 0.1}),
    ("Text customers who haven't ordered in 60 days", "campaign_plan",
     {"inactive_days": 60, "channel": "sms"}),
    # a channel is a whole word: "apply" is not the app
    ("apply a 10% discount to At Risk customers", "campaign_plan",
     {"segment": "At Risk", "discount_cap": 0.1}),
    ("Email customers who haven't bought in 60 days", "campaign_plan",
     {"inactive_days": 60, "channel": "email"}),
    ("哪些高价值客户有流失风险？", "at_risk_customers", {"top": 10, "segment": "At Risk"}),
    ("Create a reactivation campaign for customers gone 4 months", "campaign_plan",
     {"inactive_days": 120}),
    ("Crée une campagne pour les clients sans commande depuis 90 jours", "campaign_plan",
     {"inactive_days": 90, "language": "fr"}),
    # ... or for the one-time buyers (the second-order play)
    ("Send a second-order coupon to one-time buyers", "campaign_plan",
     {"one_order_only": True}),
    ("Create a campaign for customers who bought only once", "campaign_plan",
     {"one_order_only": True}),
    ("Contact our one-time buyers in Hibernating", "campaign_plan",
     {"one_order_only": True, "segment": "Hibernating"}),
    # a list asked for stays a list
    ("Send me the list of one-time buyers", "at_risk_customers",
     {"top": 10, "one_order_only": True}),
    ("how many one-time buyers haven't ordered in 90 days?", "at_risk_customers",
     {"top": 10, "inactive_days": 90, "one_order_only": True}),
    ("Which customers have gone quiet for 3 months?", "at_risk_customers",
     {"top": 10, "inactive_days": 90}),
    ("What were our quietest months in the last 12 months?", "monthly_trend", {"months": 12}),
    # a country named: lists and plans keep to its customers; other questions by country
    ("which customers in Germany are at risk?", "at_risk_customers",
     {"top": 10, "segment": "At Risk", "country": "Germany"}),
    ("top 10 customers in the UK", "top_customers",
     {"top": 10, "by": "monetary", "country": "United Kingdom"}),
    ("Draft a win-back campaign for German customers", "campaign_plan",
     {"segment": "At Risk", "country": "Germany"}),
    ("Send a 15% off coupon to customers in France who haven't ordered in 90 days",
     "campaign_plan", {"inactive_days": 90, "discount_cap": 0.15, "country": "France"}),
    ("Welche Kunden aus Deutschland sind gefährdet?", "at_risk_customers",
     {"top": 10, "country": "Germany"}),
    ("What is the churn rate in France?", "breakdown", {"by": "country"}),
    ("best sellers in Germany", "top_products", {"by": "revenue", "top": 10,
                                                 "country": "Germany"}),
    ("what do German customers buy?", "top_products", {"by": "revenue", "top": 10,
                                                       "country": "Germany"}),
    ("What do Champions in France buy?", "top_products",
     {"by": "revenue", "top": 10, "segment": "Champions", "country": "France"}),
    ("Was kaufen Kunden aus Deutschland?", "top_products",
     {"by": "revenue", "top": 10, "country": "Germany"}),
    ("Qu'achètent les clients d'Allemagne ?", "top_products",
     {"by": "revenue", "top": 10, "country": "Germany"}),
    ("德国客户买什么？", "top_products", {"by": "revenue", "top": 10, "country": "Germany"}),
    ("which country buys the most?", "breakdown", {"by": "country"}),
    # French and Spanish name the country after the noun, German with an adjective
    ("Qu'achètent les clients allemands ?", "top_products",
     {"by": "revenue", "top": 10, "country": "Germany"}),
    ("¿Qué compran los clientes alemanes?", "top_products",
     {"by": "revenue", "top": 10, "country": "Germany"}),
    ("Was kaufen deutsche Kunden?", "top_products",
     {"by": "revenue", "top": 10, "country": "Germany"}),
    ("Welche deutschen Kunden sind gefährdet?", "at_risk_customers",
     {"top": 10, "country": "Germany"}),
    ("Crée une campagne pour les clients français", "campaign_plan",
     {"segment": "At Risk", "language": "fr", "country": "France"}),
    ("clientes británicos que no han comprado en 90 días", "at_risk_customers",
     {"top": 10, "inactive_days": 90, "country": "United Kingdom"}),
    ("Erstelle die Kampagne auf Deutsch", "campaign_plan",
     {"segment": "At Risk", "language": "de"}),
    ("what do customers buy?", "top_products", {"by": "revenue", "top": 10}),
    ("Was kaufen unsere Kunden?", "top_products", {"by": "revenue", "top": 10}),
    ("what share of customers buy twice?", "cohort_retention", {}),
    ("which channel works best for win-back?", "playbook_search",
     {"query": "which channel works best for win-back?"}),
    ("draft a win-back campaign for At Risk by the best channel", "campaign_plan",
     {"segment": "At Risk"}),
    ("which customers haven't come back after their first order?", "at_risk_customers",
     {"top": 10, "one_order_only": True}),
    ("list customers with one order who spent over 200", "at_risk_customers",
     {"top": 10, "one_order_only": True, "min_spend": 200}),
    ("Quels sont nos meilleurs clients en France ?", "top_customers",
     {"top": 10, "by": "monetary", "country": "France"}),
    ("how much did customers spend?", "shop_kpis", {}),
    ("how much did German customers spend?", "breakdown", {"by": "country"}),
    ("what products do our top customers buy?", "top_products",
     {"by": "revenue", "top": 10, "segment": "Champions"}),
    # a ranking asked for is kept for the customers chosen by days, one order or spend
    ("top 10 customers by lifetime value who haven't ordered in 60 days", "top_customers",
     {"top": 10, "by": "predicted_clv", "inactive_days": 60}),
    ("biggest spenders who haven't ordered in 90 days", "top_customers",
     {"top": 10, "by": "monetary", "inactive_days": 90}),
    ("most valuable one-time buyers", "top_customers",
     {"top": 10, "by": "predicted_clv", "one_order_only": True}),
    ("top customers by spend who spent over 1000", "top_customers",
     {"top": 10, "by": "monetary", "min_spend": 1000}),
    ("which one-time buyers are most at risk?", "at_risk_customers",
     {"top": 10, "one_order_only": True}),
    # spend or orders in the last so many days
    ("who bought the most in the last 30 days?", "top_customers",
     {"top": 10, "by": "monetary", "recent_days": 30}),
    ("top customers by spend last month", "top_customers",
     {"top": 10, "by": "monetary", "recent_days": 30}),
    ("who ordered most often in the past 3 months?", "top_customers",
     {"top": 10, "by": "frequency", "recent_days": 90}),
    ("Wer hat in den letzten 3 Monaten am meisten gekauft?", "top_customers",
     {"top": 10, "by": "monetary", "recent_days": 90}),
    ("Quels clients ont le plus dépensé ces 30 derniers jours ?", "top_customers",
     {"top": 10, "by": "monetary", "recent_days": 30}),
    ("上个月消费最多的客户", "top_customers", {"top": 10, "by": "monetary", "recent_days": 30}),
    # a spend floor: "who spent over 500"
    ("who spent more than 2000?", "at_risk_customers", {"top": 10, "min_spend": 2000}),
    ("Which At Risk customers spent over £500?", "at_risk_customers",
     {"top": 10, "min_spend": 500, "segment": "At Risk"}),
    ("Send a 10% coupon to customers who spent £1k or more and haven't ordered in 90 days",
     "campaign_plan", {"inactive_days": 90, "min_spend": 1000, "discount_cap": 0.1}),
    ("Schick einen Gutschein an Kunden aus Deutschland, die mehr als 500 € ausgegeben haben",
     "campaign_plan", {"segment": "At Risk", "min_spend": 500, "language": "de",
                       "country": "Germany"}),
    ("clients qui ont dépensé plus de 300 € sans commande depuis 2 mois", "at_risk_customers",
     {"top": 10, "inactive_days": 60, "min_spend": 300}),
    ("消费超过500元且超过90天没下单的客户", "at_risk_customers",
     {"top": 10, "inactive_days": 90, "min_spend": 500}),
    ("what do customers who haven't ordered in 90 days buy?", "top_products",
     {"by": "revenue", "top": 10, "inactive_days": 90}),
    ("what do one-time buyers buy?", "top_products",
     {"by": "revenue", "top": 10, "one_order_only": True}),
    ("how much did customers spend over the last 6 months?", "monthly_trend", {"months": 6}),
    ("为德国客户设计一个召回活动", "campaign_plan",
     {"segment": "At Risk", "language": "zh", "country": "Germany"}),
    ("draft a plan for Hibernating in German", "campaign_plan", {"segment": "Hibernating"}),
    ("show us the top customers", "top_customers", {"top": 10, "by": "monetary"}),
    # what a term means (the glossary), and the same words asking for this shop's numbers
    ("What does churn probability mean?", "glossary", {"term": "churn_probability"}),
    ("How is the churn probability calculated?", "glossary", {"term": "churn_probability"}),
    ("What is CLV?", "glossary", {"term": "predicted_clv"}),
    ("What is a cohort?", "glossary", {"term": "cohort_retention"}),
    ("What is a holdout group?", "glossary", {"term": "holdout"}),
    ("How are segments defined?", "glossary", {"term": "rfm"}),
    ("What does revenue at risk mean?", "glossary", {"term": "revenue_at_risk"}),
    ("What is P(alive)?", "glossary", {"term": "expected_orders"}),
    ("Was bedeutet Abwanderungswahrscheinlichkeit?", "glossary",
     {"term": "churn_probability"}),
    ("Comment est calculée la valeur client ?", "glossary", {"term": "predicted_clv"}),
    ("¿Qué significa ingresos en riesgo?", "glossary", {"term": "revenue_at_risk"}),
    ("什么是RFM？", "glossary", {"term": "rfm"}),
    ("What is our churn rate?", "churning_segments", {}),
    ("What is the CLV of Champions?", "clv_summary", {"segment": "Champions"}),
    ("What is the Champions segment?", "segment_overview", {"segments": ["Champions"]}),
    ("Explain why At Risk is churning", "churn_drivers", {"segment": "At Risk"}),
    ("Wie lief die Kampagne?", "campaign_results", {}),
    ("流失模型有多准？", "model_quality", {}),
    # "at risk" says how the customers named are; the At Risk segment when none is
    ("which Loyal Customers are at risk?", "at_risk_customers",
     {"top": 10, "segment": "Loyal Customers"}),
    ("which VIPs are at risk?", "at_risk_customers", {"top": 10, "segment": "Champions"}),
    ("哪些忠诚客户有流失风险？", "at_risk_customers", {"top": 10, "segment": "Loyal Customers"}),
    ("which customers are at risk?", "at_risk_customers", {"top": 10, "segment": "At Risk"}),
    # how to measure a campaign is the playbook's (how one did is campaign_results)
    ("How do I measure a campaign?", "playbook_search",
     {"query": "How do I measure a campaign?"}),
    ("Wie messe ich den Erfolg einer Kampagne?", "playbook_search",
     {"query": "Wie messe ich den Erfolg einer Kampagne?"}),
    ("Welche Kunden haben seit 3 Monaten nicht bestellt?", "at_risk_customers",
     {"top": 10, "inactive_days": 90}),
    ("Quels clients n'ont pas commandé depuis 2 mois ?", "at_risk_customers",
     {"top": 10, "inactive_days": 60}),
    ("¿Qué clientes llevan 60 días sin comprar?", "at_risk_customers",
     {"top": 10, "inactive_days": 60}),
    ("which segment grew the most?", "segment_overview", {"order": "change"}),
    ("哪个用户群增长最多？", "segment_overview", {"order": "change"}),
    # "¿Cómo...?" is a how-to only with a verb of doing after it
    ("¿Cómo puedo retener a los clientes At Risk?", "playbook_search",
     {"query": "¿Cómo puedo retener a los clientes At Risk?", "segment": "At Risk"}),
    ("¿Cómo retiene la cohorte de marzo?", "cohort_retention", {"cohort": "3"}),
    # one-time buyers (and how many they are)
    ("who are my one-time buyers?", "at_risk_customers", {"top": 10, "one_order_only": True}),
    ("how many one-time buyers do we have?", "at_risk_customers",
     {"top": 10, "one_order_only": True}),
    ("只买过一次的客户有哪些？", "at_risk_customers", {"top": 10, "one_order_only": True}),
    # how many months
    ("最近三个月的销售趋势", "monthly_trend", {"months": 3}),
    ("revenue over the last 6 months", "monthly_trend", {"months": 6}),
    ("sales trend of the last three months", "monthly_trend", {"months": 3}),
    ("évolution des ventes des 6 derniers mois", "monthly_trend", {"months": 6}),
    ("近6个月的订单数", "monthly_trend", {"months": 6}),
    ("为什么流失风险用户会流失？", "churn_drivers", {"segment": "At Risk"}),
    ("Warum wandern Champions ab?", "churn_drivers", {"segment": "Champions"}),
    # how a segment is doing, in every language, or a segment named alone: its row
    ("How are the Champions doing?", "segment_overview", {"segments": ["Champions"]}),
    ("¿Cómo está el segmento Champions?", "segment_overview", {"segments": ["Champions"]}),
    ("Wie steht es um die Champions?", "segment_overview", {"segments": ["Champions"]}),
    ("Comment vont les Champions ?", "segment_overview", {"segments": ["Champions"]}),
    ("重要价值客户怎么样？", "segment_overview", {"segments": ["Champions"]}),
    ("what about Hibernating?", "segment_overview", {"segments": ["Hibernating"]}),
    ("How are Champions and Hibernating doing?", "segment_overview",
     {"segments": ["Champions", "Hibernating"]}),
    # "价值" in the Champions' Chinese name is not a question about value; "VIPs" are the
    # shop's most valuable customers, whichever segment they are in
    ("重要价值客户的价值是多少？", "clv_summary", {"segment": "Champions"}),
    ("who should get a VIP treatment?", "top_customers", {"top": 10, "by": "predicted_clv"}),
    ("Who are my VIPs?", "top_customers", {"top": 10, "by": "predicted_clv"}),
    # who is likely to buy next; the most loyal; who bought the most; "which <...> customers"
    ("who is likely to buy again soon?", "top_customers", {"top": 10, "by": "expected_orders"}),
    ("which customers are most likely to order next month?", "top_customers",
     {"top": 10, "by": "expected_orders"}),
    ("who are my most loyal customers?", "top_customers", {"top": 10, "by": "frequency"}),
    ("who bought the most last year?", "top_customers", {"top": 10, "by": "monetary"}),
    ("which high value customers should I call first?", "top_customers",
     {"top": 10, "by": "predicted_clv"}),
    ("who closes the most orders?", "top_customers", {"top": 10, "by": "frequency"}),
    # how often customers order again (the headline numbers), and whether they do
    ("what is the average time between orders?", "shop_kpis", {}),
    ("when do customers usually come back?", "shop_kpis", {}),
    ("Wie oft bestellen unsere Kunden?", "shop_kpis", {}),
    ("复购周期是多少天？", "shop_kpis", {}),
    ("what percentage of customers buy again?", "cohort_retention", {}),
    ("what is the repeat purchase rate of new customers?", "cohort_retention", {}),
    # customers lost ahead; where to start; the month with the most; the shop; when to send
    ("how many customers will we lose next quarter?", "churning_segments", {}),
    ("which segment should I target first?", "churning_segments", {}),
    ("where should I focus?", "churning_segments", {}),
    ("which month had the most new customers?", "monthly_trend", {}),
    ("what's going on with my shop?", "shop_kpis", {}),
    ("what's the best day to send emails?", "playbook_search",
     {"query": "what's the best day to send emails?"}),
    ("top customers", "top_customers", {"top": 10, "by": "monetary"}),
    ("best customers by order value", "top_customers", {"top": 10, "by": "avg_order_value"}),
    # the same in German, French, Spanish and Chinese ("bestellt" is not "best")
    ("Welche Kunden kaufen wahrscheinlich bald wieder?", "top_customers",
     {"top": 10, "by": "expected_orders"}),
    ("Wer sind unsere besten Kunden?", "top_customers", {"top": 10, "by": "monetary"}),
    ("Wer hat am meisten bestellt?", "top_customers", {"top": 10, "by": "frequency"}),
    ("Wie steht es um die Neukunden?", "segment_overview", {"segments": ["New Customers"]}),
    ("Wie viele Kunden werden wir verlieren?", "churning_segments", {}),
    ("Wo soll ich anfangen?", "churning_segments", {}),
    ("Qui sont nos meilleurs clients ?", "top_customers", {"top": 10, "by": "monetary"}),
    ("Tous les combien nos clients commandent-ils ?", "shop_kpis", {}),
    ("Combien de clients allons-nous perdre ?", "churning_segments", {}),
    ("¿Quiénes son nuestros mejores clientes?", "top_customers",
     {"top": 10, "by": "monetary"}),
    ("¿Qué clientes volverán a comprar pronto?", "top_customers",
     {"top": 10, "by": "expected_orders"}),
    ("¿Cuántos clientes vamos a perder?", "churning_segments", {}),
    ("哪些客户最可能再次购买？", "top_customers", {"top": 10, "by": "expected_orders"}),
    ("最忠诚的客户是谁？", "top_customers", {"top": 10, "by": "frequency"}),
    ("客户多久复购一次？", "shop_kpis", {}),
    ("Welche Neukunden sind gefährdet?", "at_risk_customers",
     {"top": 10, "segment": "New Customers"}),
    ("Wie viel Umsatz ist gefährdet?", "churning_segments", {}),
    ("Quels clients fidèles sont menacés ?", "at_risk_customers",
     {"top": 10, "segment": "Loyal Customers"}),
    # a message to write for a segment is a plan; how many customers a segment holds
    ("Design a retention email for new customers", "campaign_plan",
     {"segment": "New Customers", "channel": "email"}),
    ("How many customers are in Champions?", "segment_overview", {"segments": ["Champions"]}),
    ("重要价值客户有多少？", "segment_overview", {"segments": ["Champions"]}),
    # how a saved campaign did (not what one would do)
    ("how did the campaign do?", "campaign_results", {}),
    ("Did plan 3 work?", "campaign_results", {"plan_id": 3}),
    ("Hat die Kampagne gewirkt?", "campaign_results", {}),
    ("La campagne a-t-elle marché ?", "campaign_results", {}),
    ("¿Funcionó la campaña?", "campaign_results", {}),
    ("方案 2 的效果如何？", "campaign_results", {"plan_id": 2}),
    ("What results can I expect from a campaign for At Risk?", "campaign_plan",
     {"segment": "At Risk"}),
    ("Can you explain how the model performed?", "model_quality", {}),  # "explain": no plan
    # products bought together: all pairs, or with one product (named as people name it)
    ("which products are often bought together?", "bought_together", {}),
    ("What do customers buy with the Portable Charger?", "bought_together",
     {"product": "the Portable Charger"}),
    ("what is frequently bought together with P0307?", "bought_together", {"product": "P0307"}),
    ("customers who buy Ergonomic Monitor also buy what?", "bought_together",
     {"product": "Ergonomic Monitor"}),
    ("what goes well with Bamboo Mug Set?", "bought_together", {"product": "Bamboo Mug Set"}),
    ("what should we cross-sell with P0311?", "bought_together", {"product": "P0311"}),
    ("which products should we bundle?", "bought_together", {}),
    ("top 5 product pairs by lift", "bought_together", {"by": "lift", "top": 5}),
    ("which products do the same customers buy together?", "bought_together",
     {"across": "customers"}),
    ("what is bought together in the same order?", "bought_together", {"across": "orders"}),
    ("Welche Produkte werden oft zusammen gekauft?", "bought_together", {}),
    ("Was wird zusammen mit dem Portable Charger gekauft?", "bought_together",
     {"product": "Portable Charger"}),
    ("Quels produits sont achetés ensemble ?", "bought_together", {}),
    ("Qu'achètent les clients avec le Portable Charger ?", "bought_together",
     {"product": "le Portable Charger"}),
    ("¿Qué productos se compran juntos?", "bought_together", {}),
    ("哪些商品经常一起购买？", "bought_together", {}),
    ("和P0307一起购买的商品有哪些？", "bought_together", {"product": "P0307"}),
    # the customers who bought a product: listed, ranked, their best sellers, a plan
    ("who bought P0307?", "at_risk_customers", {"top": 10, "product": "P0307"}),
    ("which customers bought the Portable Charger?", "at_risk_customers",
     {"top": 10, "product": "the Portable Charger"}),
    ("which At Risk customers bought P0307?", "at_risk_customers",
     {"top": 10, "product": "P0307", "segment": "At Risk"}),
    ("top 10 customers by lifetime value who bought P0311", "top_customers",
     {"top": 10, "by": "predicted_clv", "product": "P0311"}),
    ("what do customers who bought P0307 buy?", "top_products",
     {"by": "revenue", "top": 10, "product": "P0307"}),
    ("send a 10% coupon to customers who bought the Portable Charger", "campaign_plan",
     {"segment": "At Risk", "product": "the Portable Charger", "discount_cap": 0.1}),
    ("draft a win-back campaign for customers who bought P0307 and haven't ordered in 90 days",
     "campaign_plan", {"inactive_days": 90, "product": "P0307"}),
    ("buyers of P0307 who spent over 500", "at_risk_customers",
     {"top": 10, "min_spend": 500.0, "product": "P0307"}),
    ("Welche Kunden haben P0307 gekauft?", "at_risk_customers", {"top": 10, "product": "P0307"}),
    ("Quels clients ont acheté P0307 ?", "at_risk_customers", {"top": 10, "product": "P0307"}),
    ("¿Qué clientes compraron P0307?", "at_risk_customers", {"top": 10, "product": "P0307"}),
    ("买过P0307的客户有哪些？", "at_risk_customers", {"top": 10, "product": "P0307"}),
    # and who have not bought one
    ("which customers haven't bought P0311?", "at_risk_customers",
     {"top": 10, "not_bought": "P0311"}),
    ("which Champions haven't bought P0311?", "at_risk_customers",
     {"top": 10, "not_bought": "P0311", "segment": "Champions"}),
    ("what do customers who bought P0307 but not P0311 buy?", "top_products",
     {"by": "revenue", "top": 10, "product": "P0307", "not_bought": "P0311"}),
    ("哪些客户没买过P0311的？", "at_risk_customers", {"top": 10, "not_bought": "P0311"}),
    # what follows "bought" is not always a product
    ("who bought the most in the last 30 days?", "top_customers",
     {"top": 10, "by": "monetary", "recent_days": 30}),
    ("customers who bought once", "at_risk_customers", {"top": 10, "one_order_only": True}),
    # cohorts ranked by their third month
    ("which cohort retains best?", "cohort_retention", {"rank": "best"}),
    ("which cohort has the worst retention?", "cohort_retention", {"rank": "worst"}),
    ("Welche Kohorte hat die beste Bindung?", "cohort_retention", {"rank": "best"}),
    ("哪个批次留存最好？", "cohort_retention", {"rank": "best"}),
    # the second order; one segment's average order; how much the best customers bring
    ("what is the second order rate?", "cohort_retention", {}),
    ("what is the average order value of Champions?", "segment_overview",
     {"segments": ["Champions"]}),
    ("what percentage of revenue comes from the top 10% of customers?", "shop_kpis", {}),
    ("how much do we depend on our best customers?", "shop_kpis", {}),
    ("前10%的客户贡献了多少收入？", "shop_kpis", {}),
    ("who are my top 20% customers?", "top_customers", {"top": 20, "by": "monetary"}),
    # products whose sales rose or fell lately; the best sellers of the last days
    ("which products are trending?", "product_trend", {"direction": "rising"}),
    ("which products are declining?", "product_trend", {"direction": "falling"}),
    ("what is selling less than last month?", "product_trend", {"direction": "falling"}),
    ("which products grew the most in the last 90 days?", "product_trend",
     {"direction": "rising", "days": 90}),
    ("which products are losing customers?", "product_trend",
     {"direction": "falling", "by": "customers"}),
    ("top 5 trending products", "product_trend", {"direction": "rising", "top": 5}),
    ("Welche Produkte sind rückläufig?", "product_trend", {"direction": "falling"}),
    ("Quels produits sont en hausse ?", "product_trend", {"direction": "rising"}),
    ("¿Qué productos están en baja?", "product_trend", {"direction": "falling"}),
    ("哪些商品销量下滑？", "product_trend", {"direction": "falling"}),
    ("are sales growing?", "monthly_trend", {}),  # the shop's, not products'
    ("how do I increase sales of a product?", "playbook_search",
     {"query": "how do I increase sales of a product?"}),
    # what to do, asked for a team: the playbook's; what the numbers are: the data's
    *((question, "playbook_search", {"query": question}) for question in (
        "how can we grow product sales?", "how do we get customers to buy more products?",
        "wie können wir mehr Produkte verkaufen?", "comment vendre plus de produits ?")),
    ("how can we see who is churning?", "at_risk_customers", {"top": 10}),
    ("how do we rank customers by spend?", "top_customers", {"top": 10, "by": "monetary"}),
    ("how do we compare to last month?", "monthly_trend", {}),
    ("what sold best last month?", "top_products",
     {"by": "revenue", "top": 10, "recent_days": 30}),
    ("best sellers in the last 7 days", "top_products",
     {"by": "revenue", "top": 10, "recent_days": 7}),
    ("上个月卖得最好的商品", "top_products", {"by": "revenue", "top": 10, "recent_days": 30}),
    # a cross-sell plan: to the buyers of one product, or to a segment, who lack another
    ("cross-sell P0311 to buyers of P0307", "campaign_plan",
     {"product": "P0307", "suggest": "P0311"}),
    ("draft a cross-sell campaign for customers who bought P0307 but not P0311",
     "campaign_plan", {"product": "P0307", "suggest": "P0311"}),
    ("send Champions who haven't bought P0311 a 10% coupon", "campaign_plan",
     {"segment": "Champions", "suggest": "P0311", "discount_cap": 0.1}),
    ("draft a win-back campaign for customers who haven't ordered in 90 days", "campaign_plan",
     {"inactive_days": 90}),
    ("给买过P0307但没买过P0311的客户做一个活动", "campaign_plan",
     {"product": "P0307", "suggest": "P0311", "language": "zh"}),
    ("Erstelle eine Kampagne für Kunden, die P0307 gekauft haben, aber nicht P0311",
     "campaign_plan", {"product": "P0307", "suggest": "P0311", "language": "de"}),
    ("Crée une campagne pour les Champions qui n'ont pas acheté P0311", "campaign_plan",
     {"segment": "Champions", "suggest": "P0311", "language": "fr"}),
    ("Crea una campaña para Champions que no han comprado P0311", "campaign_plan",
     {"segment": "Champions", "suggest": "P0311", "language": "es"}),
    # a coupon is not a product; how to design a bundle is the playbook's
    ("what do customers buy with a coupon?", "top_products", {"by": "revenue", "top": 10}),
    ("how do I design a bundle offer?", "playbook_search",
     {"query": "how do I design a bundle offer?"}),
])
def test_offline_model_picks_tools_and_arguments(question, tool, args):
    intent = interpret(question)
    assert intent.calls == [(tool, args)]


@pytest.mark.parametrize("question", ["what's new?", "what is the potential here?",
                                      "I'm a bit lost, what can you do?", "I am lost"])
def test_a_common_word_alone_asks_for_no_segments_numbers(question):
    # "new" and "potential" say New Customers and Potential Loyalists only with more words;
    # "I'm lost" is a feeling, not the Lost segment
    assert interpret(question).kind == "help"


def test_how_a_segment_is_doing_is_its_numbers_against_the_shops(context, sample_analysis):
    customers = sample_analysis.customers
    mine = customers.loc[customers["rfm_segment"] == "Hibernating"]
    answer = Advisor(context, OFFLINE).ask("How are the Hibernating customers doing?").answer
    share = mine["monetary"].sum() / customers["monetary"].sum()
    assert f"{len(mine):,} customers ({len(mine) / len(customers):.1%} of all" in answer
    assert f"bring {share:.1%} of revenue" in answer
    churn, shop_churn = mine["churn_probability"].mean(), customers["churn_probability"].mean()
    assert f"**{churn:.1%}** (the shop's: {shop_churn:.1%})" in answer
    clv, shop_clv = mine["predicted_clv"].mean(), customers["predicted_clv"].mean()
    assert f"{clv:,.2f} (the shop's: {shop_clv:,.2f})" in answer


@pytest.mark.parametrize("text, segment", [
    ("which customers should I call first?", None),
    ("tips for a loyalty program", None),          # loyalty is not Loyal Customers
    ("how do I grow my newsletter list?", None),   # newsletter is not New Customers
    ("Which customers are about to leave?", None),  # not About To Sleep
    ("what risks should I watch?", None),           # not At Risk
    ("campaign for hibernatng customers", "Hibernating"),
    ("what do need atention customers buy?", "Need Attention"),
    ("show the loyl customers", "Loyal Customers"),
    ("new customers", "New Customers"),
])
def test_segment_names_typos_and_plain_words(text, segment):
    assert find_segment(text) == segment


def _numbers(text: str, lang: str = "en") -> set[str]:
    """The numbers of an answer, written the English way ("2.090" and "12,3 %" of a German
    or French answer read "2,090" and "12.3%")."""
    if lang in ("de", "es", "fr"):
        thousands = "\u202f" if lang == "fr" else "."
        group = re.escape(thousands)
        text = re.sub(rf"(?<![\w.,/:])(\d{{1,3}}(?:{group}\d{{3}})+|\d+)(,\d+)?(?!\w|[.,]\d)"
                      r"\u202f?(%?)", lambda m: m[1].replace(thousands, ",")
                      + ("." + m[2][1:] if m[2] else "") + m[3], text)
    return set(re.findall(r"\d(?:[\d,]*\d)?(?:\.\d+)?%?", text))


def _literals(template: str) -> list[str]:
    return [text for text, *_ in string.Formatter().parse(template)]


@pytest.mark.parametrize("lang", ["zh", "de", "fr", "es"])
def test_every_language_fills_the_same_placeholders_as_the_english(lang):
    english, other = _templates("en"), _templates(lang)
    assert other.keys() == english.keys()
    for kind, template in english.items():
        fields = {f for _, f, *_ in string.Formatter().parse(template) if f}
        assert {f for _, f, *_ in string.Formatter().parse(other[kind]) if f} == fields, kind
    assert PHRASES[lang].keys() == PHRASES["en"].keys()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_example_in_the_help_is_understood(lang):
    examples = re.findall(r'"([^"]+)"', _templates(lang)["help"])
    assert len(examples) >= 6
    for example in examples:
        assert interpret(example).kind != "help", example
        assert language(example) == lang, example


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_next_question_an_answer_suggests_is_understood_in_its_language(lang):
    suggested = re.search(r'"([^"]+)"', say(lang, "follow_up", segment="Hibernating")).group(1)
    copy = {} if lang == "en" else {"language": lang}  # the plan's copy in that language
    assert interpret(suggested).calls == [("campaign_plan", {"segment": "Hibernating", **copy})]
    assert language(suggested) == lang


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_bundle_question_after_the_pairs_finds_the_cross_selling_playbook(lang,
                                                                            playbook_kb):
    suggested = re.search(r'"([^"]+)"', _templates(lang)["bought_together_next"]).group(1)
    assert language(suggested) == lang
    assert interpret(suggested).calls == [("playbook_search", {"query": suggested})]
    assert playbook_kb.search(suggested, k=1)[0].source == "cross-sell-bundles.md"


def test_questions_in_english_stay_english():
    from advisor.web import MARKETER_EXAMPLES, OPERATOR_EXAMPLES

    english = [q for q in OPERATOR_EXAMPLES + MARKETER_EXAMPLES if not _CJK.search(q)]
    english += ["show me customer 004217", "what do Champions buy?", "revenue by channel",
                "how big should the holdout be for an A/B test on loyal customers?",
                "top 3 loyal customers by spend", "Champions", "cohort retention please"]
    assert {q: language(q) for q in english} == dict.fromkeys(english, "en")


_CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("lang, english, question", [
    ("zh", "which segment is churning?", "哪个用户群在流失？"),
    ("zh", "what is the average order value?", "客单价是多少？"),
    ("zh", "list the customers most likely to churn", "流失风险最高的前10位客户"),
    ("zh", "what do Champions buy?", "重要价值客户买什么？"),
    ("zh", "which country has the most customers at risk?", "哪个国家的风险收入最多？"),
    ("zh", "cohort retention please", "复购率怎么样？"),
    ("zh", "what's the lifetime value of my customers?", "客户生命周期价值是多少？"),
    ("zh", "how big is the A/B test for at risk customers?", "流失风险用户的实验需要多少样本？"),
    ("zh", "show me customer {customer}", "客户 {customer} 的情况"),
    ("de", "which segment is churning?", "Welches Segment wandert ab?"),
    ("de", "list the customers most likely to churn", "Welche Kunden sind abwanderungsgefährdet?"),
    ("de", "what is the average order value?", "Wie hoch ist der durchschnittliche Bestellwert?"),
    ("de", "which products sell best?", "Was sind unsere meistverkauften Produkte?"),
    ("de", "which country has the most customers at risk?",
     "Welches Land hat den meisten gefährdeten Umsatz?"),
    ("de", "show me customer {customer}", "Zeige mir den Kunden {customer}"),
    ("fr", "which segment is churning?", "Quel segment perd le plus de clients ?"),
    ("fr", "list the customers most likely to churn", "Quels clients risquent de partir ?"),
    ("fr", "what is the average order value?", "Quel est le panier moyen ?"),
    ("fr", "which products sell best?", "Quels sont nos produits les plus vendus ?"),
    ("fr", "show me customer {customer}", "Montre-moi le client {customer}"),
    ("es", "which segment is churning?", "¿Qué segmento tiene más fuga de clientes?"),
    ("es", "how many customers do we have?", "¿Cuántos clientes tenemos?"),
    ("es", "which country has the most customers at risk?",
     "¿Qué país tiene más ingresos en riesgo?"),
    ("es", "show me customer {customer}", "Muéstrame el cliente {customer}"),
    ("zh", "recommend products for customer {customer}", "给客户 {customer} 推荐商品"),
    ("zh", "how accurate is the churn model?", "模型准确吗？"),
    ("de", "how accurate is the churn model?", "Wie genau ist das Modell?"),
    ("fr", "how accurate is the churn model?", "Le modèle est-il fiable ?"),
    ("es", "how accurate is the churn model?", "¿Es preciso el modelo?"),
    ("zh", "revenue by month", "月度销售额趋势"),
    ("de", "revenue by month", "Wie entwickelt sich der Umsatz pro Monat?"),
    ("fr", "revenue by month", "évolution du chiffre d'affaires par mois"),
    ("es", "revenue by month", "¿Cuál es la tendencia de ventas por mes?"),
    ("zh", "how did the March cohort retain?", "3月批次的留存怎么样？"),
    ("de", "how did the March cohort retain?", "Wie hält die Kohorte vom März?"),
    ("fr", "how did the March cohort retain?", "Comment la cohorte de mars fidélise-t-elle ?"),
    ("es", "how did the March cohort retain?",
     "¿Qué tal la retención de la cohorte de marzo?"),
    ("zh", "compare Champions and Loyal Customers", "对比重要价值客户和忠诚客户"),
    ("zh", "why is churn risk high for Loyal Customers?", "为什么忠诚客户会流失？"),
    ("de", "why is churn risk high for Loyal Customers?", "Warum wandern Loyal Customers ab?"),
    ("fr", "what drives churn?", "Pourquoi les clients partent-ils ?"),
    ("es", "what drives churn?", "¿Por qué se van los clientes?"),
    ("zh", "which customers haven't ordered in 6 months?", "6个月没有购买的客户有哪些？"),
    ("de", "which customers haven't ordered in 6 months?",
     "Welche Kunden haben seit 6 Monaten nicht bestellt?"),
    ("de", "compare Champions and Loyal Customers",
     "Vergleiche die Segmente Champions und Loyal Customers"),
    ("zh", "how are the Champions doing?", "重要价值客户怎么样？"),
    ("de", "how are the Champions doing?", "Wie steht es um die Champions?"),
    ("fr", "how are the Champions doing?", "Comment vont les Champions ?"),
    ("es", "how are the Champions doing?", "¿Cómo está el segmento Champions?"),
    ("de", "who are my best customers?", "Wer sind unsere besten Kunden?"),
    ("de", "where should I focus?", "Wo soll ich anfangen?"),
    ("fr", "who is likely to buy again soon?",
     "Quels clients vont probablement racheter bientôt ?"),
    ("es", "when do customers usually come back?", "¿Cada cuánto compran nuestros clientes?"),
    ("zh", "who are my most loyal customers?", "最忠诚的客户是谁？"),
    ("zh", "when do customers usually come back?", "客户多久复购一次？"),
    ("zh", "which products are often bought together?", "哪些商品经常一起购买？"),
    ("de", "which products are often bought together?",
     "Welche Produkte werden oft zusammen gekauft?"),
    ("fr", "which products are often bought together?", "Quels produits sont achetés ensemble ?"),
    ("es", "which products are often bought together?", "¿Qué productos se compran juntos?"),
    ("zh", "what is bought with P0307?", "和P0307一起购买的商品有哪些？"),
    ("de", "what is bought with P0307?", "Was wird zusammen mit P0307 gekauft?"),
    ("fr", "what is bought with P0307?", "Qu'achète-t-on avec P0307 ?"),
    ("es", "what is bought with P0307?", "¿Qué se compra junto con P0307?"),
    ("zh", "which products are trending?", "哪些商品增长最快？"),
    ("de", "which products are declining?", "Welche Produkte sind rückläufig?"),
    ("fr", "which products are trending?", "Quels produits sont en hausse ?"),
    ("es", "which products are declining?", "¿Qué productos están en baja?"),
    ("zh", "what sold best last month?", "上个月卖得最好的商品"),
    ("de", "what sold best last month?",
     "Welche Produkte haben sich letzten Monat am meisten verkauft?"),
])
def test_a_question_in_another_language_is_answered_in_it_with_the_same_numbers(
        context, sample_analysis, lang, english, question):
    customer = sample_analysis.customers.index[0]
    english, question = english.format(customer=customer), question.format(customer=customer)
    assert language(question) == lang
    en = Advisor(context, OFFLINE).ask(english)
    other = Advisor(context, OFFLINE).ask(question)
    assert [c["args"] for c in other.tool_calls] == [c["args"] for c in en.tool_calls]
    kind = other.tool_calls[0]["name"]
    args = other.tool_calls[0]["args"]
    kind = ("cohort_one" if args.get("cohort") else  # one cohort; one segment; side by side
            "bought_with" if args.get("product") else  # what is bought with one product
            "top_products_recent" if args.get("recent_days") else  # of the last days
            "segment_one" if len(args.get("segments", [])) == 1 else
            "segment_comparison" if args.get("segments") else kind)
    # the language's template, not the English one, frames the same tool result
    own_words, english_words = (
        re.sub(r"^[\W_]+|[\W_]+$", "", max(_literals(_templates(name)[kind]), key=len))
        for name in (lang, "en"))
    assert own_words in other.answer and english_words not in other.answer
    # every number of the English answer, and no other but the template's own
    assert _numbers(en.answer) <= _numbers(other.answer, lang)
    own = _numbers(" ".join(_literals(_templates(lang)[kind])), lang)
    assert _numbers(other.answer, lang) - _numbers(en.answer) <= own
    if kind == "recommendations":  # why each product: the source in the language's words
        sources = {row["why"] for row in other.tool_calls[0]["result"]["recommendations"]}
        assert all(word(lang, source) in other.answer for source in sources)
        assert not any(f" {source} " in other.answer for source in sources)


@pytest.mark.parametrize("lang, question, thousands, percent", [
    ("de", "Wie viele Kunden haben wir?", ".", "%"),
    ("fr", "Combien de clients avons-nous ?", "\u202f", "\u202f%"),
    ("es", "¿Cuántos clientes tenemos?", ".", "%"),
    ("en", "How many customers do we have?", ",", "%"),
])
def test_numbers_are_written_as_the_answers_language_writes_them(
        context, sample_analysis, lang, question, thousands, percent):
    # "2,090" reads as two customers and a fraction in German, French and Spanish
    answer = Advisor(context, OFFLINE).ask(question).answer
    k = sample_analysis.kpis
    decimal = "." if lang == "en" else ","
    revenue = f"{k['revenue']:,.2f}".replace(",", "_").replace(".", decimal)
    assert f"**{k['customers']:,}**".replace(",", thousands) in answer
    assert f"**{revenue.replace('_', thousands)}**" in answer
    assert f"{k['avg_order_value']:.2f}".replace(".", decimal) in answer
    assert re.search(rf"\d{re.escape(decimal)}\d{re.escape(percent)}", answer)
    assert str(sample_analysis.orders["order_date"].max().date()) in answer  # dates stay


# The English words of the churn reasons and cluster labels, none of which a translation keeps
_ENGLISH = re.compile(r"\b(?:orders?|days|usual|gap|only|ago|buying|against|before|every|"
                      r"often|far|basket|buyers|active|lapsing|lapsed|coupon-driven|"
                      r"occasional|regular|frequent|one-time|group)\b")


@pytest.mark.parametrize("lang", ["zh", "de", "fr", "es"])
def test_every_churn_reason_is_translated(sample_analysis, lang):
    # one customer per reason the analytics give (see analytics.churn.churn_reasons)
    features = pd.DataFrame({
        "overdue_ratio": [3.0, None, 0.5, None, None, None, 1.0, 0.2, None],
        "frequency": [4, 1, 5, 3, 2, 2, 3, 6, 4],
        "recency_days": [60, 40, 20, 120, 30, 50, 10, 5, 20],
        "orders_prev_horizon": [2, 0, 4, 1, 0, 1, 1, 2, 3],
        "orders_last_horizon": [2, 1, 1, 0, 2, 1, 1, 2, 1],
        "purchase_days": [4, 1, 5, 3, 1, 2, 3, 6, 4],
        "mean_gap_days": [20.0, None, 30.0, None, 0.0, 100.0, 40.0, 10.0, None],
    }, index=[f"c{i}" for i in range(9)])
    churn = pd.Series([0.9] * 7 + [0.1, 0.9], index=features.index)
    texts = churn_reasons(features, 90, churn=churn).tolist()
    kinds = {re.sub(r"[\d.,]+", "#", part) for text in texts for part in text.split("; ")}
    assert len(kinds) == 9  # the seven reasons (one with "1 order" and "0 orders"), the pace
    texts += sample_analysis.customers["churn_reasons"].dropna().unique().tolist()
    for text in texts:
        translated = reasons(text, lang)
        assert translated != text and not _ENGLISH.search(translated), translated
        if lang == "zh":
            assert not re.search(r"[A-Za-z]", translated), translated
    assert reasons(texts[0], "en") == texts[0]


@pytest.mark.parametrize("lang", ["zh", "de", "fr", "es"])
def test_every_cluster_label_is_translated(sample_analysis, lang):
    labels = [f"{often} {basket}-basket {coupons}buyers{activity}{group}"
              for often in ("one-time", "occasional", "regular", "frequent")
              for basket in ("low", "mid", "high") for coupons in ("", "coupon-driven ")
              for activity in ("", ", active", ", lapsing", ", lapsed")
              for group in ("", " (group 3)")]
    labels += sample_analysis.customers["cluster_label"].dropna().unique().tolist()
    translated = [cluster_label(label, lang) for label in labels]
    assert not [text for text in translated if _ENGLISH.search(text)]
    assert len(set(translated)) == len(set(labels))  # no two labels read alike
    assert cluster_label(labels[0], "en") == labels[0]
    expected = {"zh": "高频中客单买家，活跃", "de": "Vielkäufer mit mittlerem Warenkorb, aktiv",
                "fr": "acheteurs fréquents à panier moyen, actifs",
                "es": "compradores frecuentes de cesta mediana, activos"}
    assert cluster_label("frequent mid-basket buyers, active", lang) == expected[lang]


# A campaign plan's English words, none of which a translation keeps ("budget" and
# "personal" are French and Spanish words too)
_PLAN_ENGLISH = re.compile(r"\b(?:set by|usual|offer|gross margin|cap|predicted CLV per order|"
                           r"median|gap|ordered|reach|within|send|week|single|the budget|covers|"
                           r"customers|keeps|revenue|detect|uplift|needs|holdout|directional|"
                           r"campaign|coupon|loyalty|reward|access|multiplier|threshold|"
                           r"discount|personalised|last-chance|spend|email|app)\b")


@pytest.mark.parametrize("lang", ["zh", "de", "fr", "es"])
def test_every_plan_text_is_translated(sample_analysis, lang):
    customers = sample_analysis.customers
    texts = {play.offer for play in DEFAULT_PLAYS.values()} | {"email", "sms", "push", "app"}
    for segment in customers["rfm_segment"].unique():
        for constraints in (Constraints(), Constraints(discount_cap=0.03, budget=300.0)):
            plan = plan_campaign(customers, segment, constraints=constraints)
            texts |= {plan.offer, plan.discount_rationale, plan.timing_rationale,
                      *plan.warnings}
    cross = plan_campaign(customers.iloc[:200], cross_sell="P0311")  # a cross-sell's offer
    texts |= {cross.offer, cross.discount_rationale}
    # every form the plans write is among them: three timings, two warnings, four bounds
    assert {t.split(" ")[0] for t in texts if t.endswith(("days", "week"))} >= {
        "their", "they", "most"}
    assert sum(t.startswith(("the budget", "to detect")) for t in texts) >= 2
    assert any("your discount cap" in t and "half the gross margin" in t for t in texts)
    for text in texts:
        translated = plan_text(text, lang)
        assert translated != text, text
        assert not _PLAN_ENGLISH.search(translated), translated
    assert plan_text("win-back coupon", "en") == "win-back coupon"


def test_every_copy_language_has_every_tactic_with_the_englishs_placeholders():
    from advisor.plans import COPY_LANGUAGES, _copy_templates

    english = _copy_templates("en")
    for lang in COPY_LANGUAGES:
        copy = _copy_templates(lang)
        assert copy.keys() == english.keys(), lang
        for tactic, (subject, body) in copy.items():
            fields = {f for _, f, *_ in string.Formatter().parse(subject + body) if f}
            english_fields = {f for _, f, *_ in string.Formatter().parse(
                "".join(english[tactic])) if f}
            assert fields == english_fields, (lang, tactic)  # the same in every language
            assert fields <= {"discount", "offer", "days", "segment", "product"}, (lang, tactic)
            assert "{first_name}" in body.format(discount="", offer="", days="", segment="",
                                                 product="")


def test_a_plan_asked_for_in_another_language_has_its_copy_in_that_language(context):
    plan = Advisor(context, OFFLINE).ask("Crea una campaña para Hibernating").tool_calls[0]
    result = plan["result"]
    assert plan["args"]["language"] == "es" and result["language"] == "es"
    assert result["subject"].startswith("Te echamos de menos") and "descuento" in result["body"]
    assert f"{result['discount']:.0%}" in result["subject"]
    english = Advisor(context, OFFLINE).ask("draft a campaign for Hibernating").tool_calls[0]
    assert english["result"]["language"] == "en"
    assert english["result"]["subject"].startswith("We miss you")
    tools = {t.name: t for t in build_tools(context)}
    error = tools["campaign_plan"].invoke({"segment": "Hibernating", "language": "it",
                                           "save": False})
    assert "no message copy in language 'it'" in error and "zh, de, fr" in error
    for named in ("German", "de-DE"):  # as a language model may name it
        german = json.loads(tools["campaign_plan"].invoke(
            {"segment": "Hibernating", "language": named, "save": False}))
        assert german["language"] == "de" and german["subject"].startswith("Wir vermissen Sie")


def test_a_chinese_plan_and_error_are_written_in_chinese(context):
    plan = Advisor(context, OFFLINE).ask("给高价值流失风险用户设计一个召回活动，折扣上限10%")
    result = plan.tool_calls[0]["result"]
    assert plan.answer.startswith("已为 **At Risk（高价值流失风险客户）** 起草方案")
    assert f"折扣 **{result['discount']:.0%}**" in plan.answer
    assert f"向 {result['treatment_size']:,} 位客户" in plan.answer
    unknown = Advisor(context, OFFLINE).ask("客户 NOSUCH999 的情况")
    assert unknown.answer.startswith("无法完成：") and "NOSUCH999" in unknown.answer
    assert Advisor(context, OFFLINE).ask("你好").answer.startswith("我可以根据对您店铺的分析")


def test_top_customers_and_shop_kpis_answer_from_the_analysis(context, sample_analysis):
    advisor = Advisor(context, OFFLINE)
    result = advisor.ask("top 5 loyal customers by lifetime value")
    payload = result.tool_calls[0]["result"]
    loyal = sample_analysis.customers.query("rfm_segment == 'Loyal Customers'")
    expected = loyal.nlargest(5, "predicted_clv")
    assert [c["customer_id"] for c in payload["customers"]] == expected.index.tolist()
    assert payload["customers_in_scope"] == len(loyal)
    assert "highest predicted value over the next 90 days" in result.answer
    assert f"{expected['predicted_clv'].iloc[0]:,.2f}" in result.answer

    kpis = Advisor(context, OFFLINE).ask("what is our average order value?")
    orders = sample_analysis.orders
    assert f"{orders['amount'].mean():,.2f} per order" in kpis.answer
    assert f"**{orders['customer_id'].nunique():,}** customers" in kpis.answer
    assert f"{len(orders):,} orders" in kpis.answer
    assert str(orders["order_date"].min().date()) in kpis.answer
    # how often a customer who orders again does: the median of their usual gaps
    gaps = sample_analysis.customers["mean_gap_days"].dropna()
    assert f"about every {gaps.median():,.0f} days" in kpis.answer
    assert f"usual gaps of {len(gaps):,} customers" in kpis.answer
    # how much the best customers bring: the top tenth and fifth by spend to date
    spend = sample_analysis.customers["monetary"].sort_values(ascending=False)
    shares = [spend.iloc[:round(len(spend) * p)].sum() / spend.sum() for p in (0.1, 0.2)]
    assert f"The top 10% of customers by spend brought {shares[0]:.1%} of revenue, and the " \
           f"top 20% brought {shares[1]:.1%}." in kpis.answer
    assert advisor.ask("what share of revenue comes from the top 10% of customers?") \
        .tool_calls[0]["result"]["revenue_share_top_10pct"] == pytest.approx(shares[0],
                                                                             abs=1e-4)
    # one segment's average order and orders per customer, against the shop's
    champions = sample_analysis.customers.query("rfm_segment == 'Champions'")
    aov = advisor.ask("what is the average order value of Champions?")
    assert aov.tool_calls[0]["args"] == {"segments": ["Champions"]}
    assert (f"Their average order is "
            f"{champions['monetary'].sum() / champions['frequency'].sum():,.2f} (the shop's: "
            f"{orders['amount'].mean():,.2f}), with {champions['frequency'].mean():.2f} orders "
            f"per customer (the shop's: {len(orders) / orders['customer_id'].nunique():.2f})"
            ) in aov.answer

    soon = advisor.ask("who is likely to buy again soon?")
    ranked = [c["customer_id"] for c in soon.tool_calls[0]["result"]["customers"]]
    assert ranked == sample_analysis.customers.nlargest(10, "expected_orders").index.tolist()
    assert "highest expected orders over the next 90 days" in soon.answer


def test_products_countries_and_one_segments_churn_answer_from_the_analysis(
        context, sample_analysis):
    tools = {t.name: t for t in build_tools(context)}
    lines, customers = sample_analysis.lines, sample_analysis.customers
    payload = json.loads(tools["top_products"].invoke({"segment": "champions", "top": 3}))
    champions = lines.loc[lines["customer_id"].isin(
        customers.index[customers["rfm_segment"] == "Champions"])]
    revenue = champions.groupby("product_id")["amount"].sum().sort_values(ascending=False)
    assert [p["product_id"] for p in payload["products"]] == revenue.index[:3].tolist()
    first = payload["products"][0]
    bought = champions.loc[champions["product_id"] == first["product_id"]]
    assert first["revenue"] == pytest.approx(revenue.iloc[0], abs=0.01)
    assert first["customers"] == bought["customer_id"].nunique()
    assert first["orders"] == bought["order_id"].nunique()
    assert payload["customers_in_scope"] == champions["customer_id"].nunique()
    by_buyers = json.loads(tools["top_products"].invoke({"by": "customers", "top": 5}))
    buyers = lines.groupby("product_id")["customer_id"].nunique().sort_values(ascending=False)
    assert [p["customers"] for p in by_buyers["products"]] == buyers.iloc[:5].tolist()

    countries = json.loads(tools["breakdown"].invoke({"by": "country"}))
    rows = countries["rows"]
    assert sum(r["customers"] for r in rows) == len(customers)  # each customer once
    assert sum(r["revenue"] for r in rows) == pytest.approx(customers["monetary"].sum(),
                                                            rel=1e-6)
    named = [r["revenue_at_risk"] for r in rows if not r["country"].startswith("other")]
    assert named == sorted(named, reverse=True)
    home = lines.groupby("customer_id")["country"].agg(lambda c: c.value_counts().index[0])
    top = rows[0]["country"]
    assert rows[0]["customers"] == int((home == top).sum())
    theirs = customers.loc[home.reindex(customers.index).to_numpy() == top]
    assert rows[0]["orders"] == int(theirs["frequency"].sum())
    assert rows[0]["avg_order_value"] == pytest.approx(
        theirs["monetary"].sum() / theirs["frequency"].sum(), abs=1e-3)

    focus = json.loads(tools["churning_segments"].invoke({"segment": "hibernating"}))["focus"]
    hibernating = customers.loc[customers["rfm_segment"] == "Hibernating"]
    assert focus["segment"] == "Hibernating" and focus["customers"] == len(hibernating)
    assert focus["mean_churn_probability"] == pytest.approx(
        hibernating["churn_probability"].mean(), abs=1e-4)
    assert focus["expected_churners"] == round(hibernating["churn_probability"].sum())

    kpis = json.loads(tools["shop_kpis"].invoke({}))
    last, day = customers["last_order"], sample_analysis.as_of
    window = pd.Timedelta(days=kpis["lapsed_window_days"])
    assert kpis["lapsed_customers"] == int(((last <= day - window)
                                            & (last > day - 2 * window)).sum()) > 0

    advisor = Advisor(context, OFFLINE)
    for question in ("what do Champions buy?", "which country has the most revenue at risk?",
                     "what is the churn rate of Hibernating?"):
        result = advisor.ask(question)
        blob = json.dumps(result.tool_calls[0]["result"])
        for number in re.findall(r"\d[\d,]*\.\d+", result.answer):  # every decimal in
            value = float(number.replace(",", ""))                   # the answer is a tool's
            assert any(abs(value - abs(float(x))) < 0.006 or abs(value - 100 * abs(float(x)))
                       < 0.06 for x in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", blob)), number
    assert "**Hibernating**" in result.answer and "segments by" not in result.answer


def test_product_numbers_with_lines_lacking_a_product_or_an_order_id():
    orders, _ = generate_sample_shop(customers=300, months=12, seed=2)
    orders.loc[orders.index[::7], "product_id"] = None
    orders.loc[orders.index[::5], "order_id"] = None  # then an order is a customer's time
    top_seller = orders.groupby("product_id")["amount"].sum().idxmax()
    orders["product_id"] = orders["product_id"].replace(top_seller, "POST")  # postage
    lines, report = clean_orders(orders)
    analysis = analyze(lines, cleaning=report, run_backtest=False)
    tools = {t.name: t for t in build_tools(AdvisorContext(analysis))}
    payload = json.loads(tools["top_products"].invoke({"by": "orders", "top": 5}))
    postage = analysis.lines.loc[analysis.lines["product_id"] == "POST", "amount"].sum()
    assert payload["non_products_left_out"] == {"codes": 1, "revenue": round(postage, 2)}
    sold = analysis.lines.dropna(subset=["product_id"]).query("product_id != 'POST'")
    order = sold["order_id"].fillna(sold["customer_id"] + "|" + sold["order_date"].astype(str))
    expected = order.groupby(sold["product_id"]).nunique()
    for product in payload["products"]:
        assert product["orders"] == expected[product["product_id"]]
    assert [p["orders"] for p in payload["products"]] == \
        expected.sort_values(ascending=False).iloc[:5].tolist()
    assert payload["revenue_in_scope"] == pytest.approx(sold["amount"].sum(), abs=0.01)


def test_every_segments_product_numbers_are_its_customers_lines():
    # all segments' tables are made in one pass; each must be what its own lines give,
    # also for an order id that customers of several segments share (an export's mistake)
    orders, _ = generate_sample_shop(customers=300, months=12, seed=2)
    orders.loc[orders.index[::7], "product_id"] = None
    orders.loc[orders.index[::11], "order_id"] = "SHARED"
    lines, report = clean_orders(orders)
    analysis = analyze(lines, cleaning=report, run_backtest=False)
    functions = ToolFunctions(AdvisorContext(analysis))
    functions.prepare()
    segment = analysis.customers["rfm_segment"].astype(str)
    sold = analysis.lines.dropna(subset=["product_id"])
    assert sold.loc[sold["order_id"] == "SHARED", "customer_id"].map(segment).nunique() > 1
    for name in [None, *functions.segments]:
        mine = sold if name is None else \
            sold.loc[sold["customer_id"].map(segment).eq(name).to_numpy()]
        by_product = mine.groupby("product_id")
        expected = pd.DataFrame({"revenue": by_product["amount"].sum(),
                                 "customers": by_product["customer_id"].nunique(),
                                 "orders": by_product["order_id"].nunique()})
        for by in ("orders", "revenue"):
            payload = json.loads(functions.top_products(by=by, segment=name, top=50))
            assert payload["customers_in_scope"] == mine["customer_id"].nunique()
            assert payload["products_in_scope"] == len(expected)
            assert payload["revenue_in_scope"] == pytest.approx(mine["amount"].sum(), abs=0.01)
            for row in payload["products"]:
                want = expected.loc[row["product_id"]]
                assert (row["customers"], row["orders"]) == (want["customers"], want["orders"])
                assert row["revenue"] == pytest.approx(want["revenue"], abs=0.01)
            ranked = expected[by].sort_values(ascending=False)
            assert [p[by] for p in payload["products"]] == \
                pytest.approx(ranked.iloc[:50].tolist(), abs=0.01)


def test_bought_together_gives_the_orders_pairs_and_finds_a_product_as_people_name_it(
        context, sample_analysis):
    from analytics.baskets import Baskets

    tools = {t.name: t for t in build_tools(context)}
    lines = sample_analysis.lines
    names = lines.drop_duplicates("product_id").set_index("product_id")["product_name"]
    expected = Baskets.from_lines(lines, unit="order").pairs(top=10, min_together=5)
    payload = json.loads(tools["bought_together"].invoke({}))
    assert payload["across"] == "orders" and "chosen_because" not in payload
    assert payload["baskets"] == lines["order_id"].nunique()
    assert [(p["product_a"], p["product_b"], p["together"]) for p in payload["pairs"]] == \
        list(zip(expected["product_a"], expected["product_b"], expected["together"],
                 strict=True))
    assert [p["name_b"] for p in payload["pairs"]] == names[expected["product_b"]].tolist()
    # one product by its name, in any case, with an article: the orders that hold it
    top = lines.groupby("product_id")["order_id"].nunique().idxmax()
    asked = json.loads(tools["bought_together"].invoke(
        {"product": f"the {names[top].upper()}"}))
    assert asked["product"] == {"product_id": top, "name": names[top],
                                "baskets": int(lines.loc[lines["product_id"] == top,
                                                         "order_id"].nunique())}
    theirs = set(lines.loc[lines["product_id"] == top, "order_id"])
    for pair in asked["pairs"]:
        assert pair["product_a"] == top
        held = set(lines.loc[lines["product_id"] == pair["product_b"], "order_id"])
        assert pair["together"] == len(theirs & held) >= 5
        assert pair["confidence"] == pytest.approx(pair["together"] / len(theirs), abs=1e-4)
    # a word of several names asks which; no such product says what there is
    words = pd.Series([w for n in names for w in set(n.lower().split())]).value_counts()
    shared = words.index[0]
    with pytest.raises(ToolException, match=rf"{words.iloc[0]} products match '{shared}': "
                                            r".*Name one by its id or full name"):
        tools["bought_together"].func(product=shared)
    with pytest.raises(ToolException, match=r"no product 'Atlantis Lamp' in the data .*"
                                            r"The most bought: "):
        tools["bought_together"].func(product="Atlantis Lamp")
    answer = Advisor(context, OFFLINE).ask(f"what do customers buy with {names[top]}?").answer
    first = asked["pairs"][0]
    assert f"| {first['product_b']} | {first['name_b']} | {first['together']:,} |" in answer
    assert f"{asked['product']['baskets']:,} orders hold it" in answer


def test_when_orders_hold_one_product_each_the_same_customers_purchases_are_baskets():
    orders, _ = generate_sample_shop(customers=500, months=12, seed=4)
    orders["order_id"] = [f"E{i}" for i in range(len(orders))]  # a purchase event log
    lines, report = clean_orders(orders)
    context = AdvisorContext(analyze(lines, cleaning=report, run_backtest=False))
    payload = json.loads(ToolFunctions(context).bought_together())
    assert payload["across"] == "customers" and payload["orders_with_two_products"] == 0
    assert payload["orders"] == len(lines) and payload["baskets"] == \
        context.analysis.customers.shape[0]
    sets = context.analysis.lines.groupby("customer_id")["product_id"].agg(set)
    for pair in payload["pairs"]:
        assert pair["together"] == sum(
            {pair["product_a"], pair["product_b"]} <= bought for bought in sets)
    ordered = json.loads(ToolFunctions(context).bought_together(across="orders"))
    assert ordered["across"] == "orders" and ordered["pairs"] == []
    answer = Advisor(context, OFFLINE).ask("which products are bought together?").answer
    assert "Few orders here hold two products or more (0 of" in answer
    assert "in the same customer's purchases" in answer
    assert "No two products share at least 5 orders more often than chance" in Advisor(
        context, OFFLINE).ask("which products are bought together in the same order?").answer


def test_products_rising_falling_and_best_selling_lately_count_those_days_lines(
        context, sample_analysis):
    functions = ToolFunctions(context)
    lines = sample_analysis.lines
    end = sample_analysis.as_of.normalize() + pd.Timedelta(days=1)

    def window(days: int, back: int = 0) -> pd.DataFrame:
        until = end - pd.Timedelta(days=back * days)
        return lines.loc[(lines["order_date"] >= until - pd.Timedelta(days=days))
                         & (lines["order_date"] < until)]

    recent, before = window(30), window(30, back=1)
    now = recent.groupby("product_id")["amount"].sum()
    then = before.groupby("product_id")["amount"].sum()
    change = now.sub(then, fill_value=0)
    payload = json.loads(functions.product_trend())
    assert payload["recent"]["revenue"] == pytest.approx(recent["amount"].sum(), abs=0.01)
    assert payload["before"]["revenue"] == pytest.approx(before["amount"].sum(), abs=0.01)
    assert payload["recent"]["customers"] == recent["customer_id"].nunique()
    assert (payload["products_rising"], payload["products_falling"]) == (
        (change > 0).sum(), (change < 0).sum())
    assert [p["product_id"] for p in payload["products"]] == \
        change[change > 0].sort_values(ascending=False).index[:10].tolist()
    for row in payload["products"]:
        assert row["revenue"] == pytest.approx(now.get(row["product_id"], 0.0), abs=0.01)
        assert row["revenue_before"] == pytest.approx(then.get(row["product_id"], 0.0),
                                                      abs=0.01)
        if row["revenue_before"]:
            assert row["change_share"] == pytest.approx(
                row["change"] / row["revenue_before"], abs=1e-4)
        else:
            assert row["change_share"] is None
    # buyers over 90 days, the most lost first
    recent, before = window(90), window(90, back=1)
    lost = recent.groupby("product_id")["customer_id"].nunique().sub(
        before.groupby("product_id")["customer_id"].nunique(), fill_value=0)
    falling = json.loads(functions.product_trend(days=90, direction="falling",
                                                 by="customers", top=50))
    assert sorted(p["change"] for p in falling["products"]) == \
        sorted(lost[lost < 0].sort_values().iloc[:50].tolist())
    assert falling["before_complete"] is True
    # an earlier window before the first order: said, as products there look new
    long = json.loads(functions.product_trend(days=400))
    assert long["before_complete"] is False
    assert f"The data start on {long['first_order']}" in \
        Advisor(context, OFFLINE).ask("which products grew the most in the last 400 days?").answer
    # the best sellers of the last 30 days
    sold = json.loads(functions.top_products(recent_days=30, top=5))
    assert sold["customers_in_scope"] == window(30)["customer_id"].nunique()
    assert [p["product_id"] for p in sold["products"]] == \
        now.sort_values(ascending=False).index[:5].tolist()
    assert sold["revenue_in_scope"] == pytest.approx(now.sum(), abs=0.01)
    with pytest.raises(ToolException, match="direction must be one of rising, falling"):
        functions.product_trend(direction="up")
    with pytest.raises(ToolException, match="the number of days must be 1 or more, got 0"):
        functions.product_trend(days=0)


def test_a_countrys_product_numbers_are_its_customers_lines():
    # each customer counts under the country of most of their lines, as for lists and plans;
    # lines without a product id are in no product's numbers, lines without an order id
    # are a customer's time, and postage is left out
    orders, _ = generate_sample_shop(customers=400, months=12, seed=3)
    orders.loc[orders.index[::7], "product_id"] = None
    orders.loc[orders.index[::5], "order_id"] = None
    postage = orders["product_id"].dropna().iloc[0]
    orders["product_id"] = orders["product_id"].replace(postage, "POST")
    lines, report = clean_orders(orders)
    analysis = analyze(lines, cleaning=report, run_backtest=False)
    functions = ToolFunctions(AdvisorContext(analysis))
    lines = analysis.lines
    home = (lines.groupby(["customer_id", "country"], observed=True).size()
            .sort_values(ascending=False, kind="stable").reset_index()
            .drop_duplicates("customer_id").set_index("customer_id")["country"].astype(str))
    segment = analysis.customers["rfm_segment"].astype(str)
    sold = lines.dropna(subset=["product_id"]).assign(
        order=lambda t: t["order_id"].fillna(t["customer_id"] + "|"
                                             + t["order_date"].astype(str)))
    country = home.value_counts().index[1]  # not the largest: a mask, not all lines
    best = sold["product_id"].value_counts().index[3]
    buyers = set(sold.loc[sold["product_id"] == best, "customer_id"])
    since = analysis.as_of.normalize() - pd.Timedelta(days=59)
    # (segment, a product's buyers only, the last 60 days only)
    for name, bought, recent in ((None, False, False), ("Champions", False, False),
                                 ("Hibernating", False, False), (None, True, False),
                                 (None, False, True), ("Champions", True, True)):
        mine = sold.loc[sold["customer_id"].map(home).eq(country).to_numpy()]
        if name is not None:
            mine = mine.loc[mine["customer_id"].map(segment).eq(name).to_numpy()]
        if bought:
            mine = mine.loc[mine["customer_id"].isin(buyers).to_numpy()]
        if recent:
            mine = mine.loc[(mine["order_date"] >= since).to_numpy()]
        payload = json.loads(functions.top_products(
            by="orders", segment=name, top=50, country=country,
            product=best if bought else None, recent_days=60 if recent else None))
        assert payload["country"] == country and payload["segment"] == (name or "all")
        assert payload["customers_in_scope"] == mine["customer_id"].nunique() > 0
        assert payload["non_products_left_out"] == {
            "codes": int((mine["product_id"] == "POST").any()),
            "revenue": round(mine.loc[mine["product_id"] == "POST", "amount"].sum(), 2)}
        mine = mine.loc[mine["product_id"] != "POST"]
        assert payload["revenue_in_scope"] == pytest.approx(mine["amount"].sum(), abs=0.01)
        by_product = mine.groupby("product_id")
        expected = pd.DataFrame({"revenue": by_product["amount"].sum(),
                                 "customers": by_product["customer_id"].nunique(),
                                 "orders": by_product["order"].nunique(),
                                 "quantity": by_product["quantity"].sum()})
        assert payload["products_in_scope"] == len(expected)
        for row in payload["products"]:
            want = expected.loc[row["product_id"]]
            assert (row["customers"], row["orders"]) == (want["customers"], want["orders"])
            assert row["revenue"] == pytest.approx(want["revenue"], abs=0.01)
            assert row["quantity"] == pytest.approx(want["quantity"])
        assert [p["orders"] for p in payload["products"]] == \
            expected["orders"].sort_values(ascending=False).iloc[:50].tolist()
    # asked as people write it, and answered from the same numbers
    advisor = Advisor(AdvisorContext(analysis), OFFLINE)
    german = advisor.ask("what do German customers buy?")
    expected = json.loads(functions.top_products(country="Germany"))
    assert german.tool_calls[0]["result"] == expected
    assert "best-selling products among customers from Germany by revenue" in german.answer
    assert f"bought by {expected['customers_in_scope']:,} customers" in german.answer
    with pytest.raises(ToolException, match="no country 'Atlantis' in the data"):
        functions.top_products(country="Atlantis")
    # the country as the answer's language names it; the data's own name in English
    for question, words in (("Was kaufen Kunden aus Deutschland?",
                             "meistverkauften Produkte unter den Kunden aus Deutschland"),
                            ("德国客户买什么？", "来自德国的客户中"),
                            ("Qu'achètent les clients allemands ?",
                             "produits les plus vendus parmi les clients d'Allemagne"),
                            ("¿Qué clientes alemanes están en riesgo?", "clientes de Alemania"),
                            ("top 10 customers in the UK", "customers from the United Kingdom")):
        assert words in advisor.ask(question).answer, question


def test_lists_and_best_sellers_of_who_spent_so_much_or_went_quiet(context, sample_analysis):
    functions = ToolFunctions(context)
    customers, lines = sample_analysis.customers, sample_analysis.lines
    listed = json.loads(functions.at_risk_customers(min_spend=1000, inactive_days=90, top=200))
    chosen = customers.loc[(customers["monetary"] >= 1000) & (customers["recency_days"] >= 90)]
    assert listed["customers_in_scope"] == len(chosen) > 0
    assert [row["customer_id"] for row in listed["customers"]] == \
        chosen.nlargest(200, "revenue_at_risk").index.tolist()
    assert all(row["monetary"] >= 1000 for row in listed["customers"])  # shown beside
    with pytest.raises(ToolException, match="min_spend must be an amount above 0, got 0"):
        functions.at_risk_customers(min_spend=0)
    # who bought the most in the last 30 days (the analysis date included)
    orders = sample_analysis.orders
    last = orders.loc[orders["order_date"] > sample_analysis.as_of - pd.Timedelta(days=29)
                      - pd.Timedelta(microseconds=1)]
    assert last["order_date"].min() >= sample_analysis.as_of - pd.Timedelta(days=29)
    spent = last.groupby("customer_id")["amount"].sum().sort_values(ascending=False,
                                                                    kind="stable")
    recent = json.loads(functions.top_customers(by="monetary", recent_days=30, top=5))
    assert recent["by"] == "recent_spend" and recent["customers_in_scope"] == len(spent)
    assert [row["recent_spend"] for row in recent["customers"]] == \
        pytest.approx(spent.iloc[:5].tolist(), abs=0.01)
    counted = json.loads(functions.top_customers(by="frequency", recent_days=30, top=5))
    assert [row["recent_orders"] for row in counted["customers"]] == \
        last.groupby("customer_id").size().sort_values(ascending=False).iloc[:5].tolist()
    # of one country's customers too
    german = set(customers.index[functions.in_country("Germany")[1]])
    theirs = spent.loc[spent.index.isin(german)]
    local = json.loads(functions.top_customers(by="monetary", recent_days=30, top=5,
                                               country="Germany"))
    assert local["customers_in_scope"] == len(theirs) > 0
    assert [row["customer_id"] for row in local["customers"]] == theirs.index[:5].tolist()
    # and of those who bought a product, or not
    lines = sample_analysis.lines
    product = lines["product_id"].value_counts().index[0]
    buyers = set(lines.loc[lines["product_id"] == product, "customer_id"])
    for args, kept in (({"product": product}, spent.index.isin(buyers)),
                       ({"not_bought": product}, ~spent.index.isin(buyers))):
        listed = json.loads(functions.top_customers(by="monetary", recent_days=30, top=5,
                                                    **args))
        assert 0 < listed["customers_in_scope"] == int(kept.sum()) < len(spent)
        assert [row["customer_id"] for row in listed["customers"]] == \
            spent.index[kept][:5].tolist()
    with pytest.raises(ToolException, match="recent_days ranks by monetary"):
        functions.top_customers(by="predicted_clv", recent_days=30)
    ranked = json.loads(functions.top_customers(by="predicted_clv", inactive_days=60,
                                                min_spend=500, top=20))
    quiet = customers.loc[(customers["recency_days"] >= 60) & (customers["monetary"] >= 500)]
    assert ranked["customers_in_scope"] == len(quiet)
    assert [row["customer_id"] for row in ranked["customers"]] == \
        quiet.nlargest(20, "predicted_clv").index.tolist()
    for args, mask in (
            ({"inactive_days": 180}, customers["recency_days"] >= 180),
            ({"one_order_only": True, "segment": "at risk"},
             (customers["frequency"] == 1) & (customers["rfm_segment"] == "At Risk")),
            ({"min_spend": 1500, "country": "France"}, customers["monetary"] >= 1500)):
        payload = json.loads(functions.top_products(by="customers", top=50, **args))
        who = set(customers.index[mask])
        if "country" in args:
            who &= set(customers.index[functions.in_country("France")[1]])
        mine = lines.loc[lines["customer_id"].isin(who)]
        assert payload["customers_in_scope"] == mine["customer_id"].nunique() > 0
        assert payload["revenue_in_scope"] == pytest.approx(mine["amount"].sum(), abs=0.01)
        buyers = mine.groupby("product_id")["customer_id"].nunique()
        for row in payload["products"]:
            assert row["customers"] == buyers[row["product_id"]]
        assert [p["customers"] for p in payload["products"]] == \
            buyers.sort_values(ascending=False).iloc[:50].tolist()

    advisor = Advisor(context, OFFLINE)
    big = advisor.ask("which customers spent over 1,000 and haven't ordered in 90 days?")
    assert big.tool_calls[0]["args"] == {"top": 10, "inactive_days": 90, "min_spend": 1000}
    assert big.tool_calls[0]["result"]["customers_in_scope"] == len(chosen)
    assert (f"The 10 customers who spent 1,000 or more without an order for 90 days or more "
            f"({len(chosen):,} in all)") in big.answer
    assert "| spend to date |" in big.answer
    spent = advisor.ask("what do customers who spent over 1000 buy?")
    assert spent.tool_calls[0]["args"] == {"by": "revenue", "top": 10, "min_spend": 1000}
    assert "best-selling products among customers (spent 1,000+) by revenue" in spent.answer
    month = advisor.ask("who bought the most in the last 30 days?")
    assert month.answer.startswith(
        "The 10 customers overall with the highest spend in the last 30 days")
    assert "| spend in the last 30 days | orders in the last 30 days |" in month.answer
    valued = advisor.ask("top 10 customers by lifetime value who haven't ordered in 60 days")
    assert valued.answer.startswith(
        "The 10 customers (no order for 60+ days) with the highest predicted value")
    quiet = advisor.ask("Was kaufen Kunden, die seit 3 Monaten nicht bestellt haben?")
    assert quiet.tool_calls[0]["args"] == {"by": "revenue", "top": 10, "inactive_days": 90}
    assert "unter den Kunden (seit 90+ Tagen ohne Bestellung)" in quiet.answer


def test_product_numbers_are_the_same_when_a_shop_is_too_large_to_number_in_one_int(
        context, monkeypatch):
    # products × orders × customers past int64: each (product, order) keeps the customer of
    # its first line instead, which is the same for orders of one customer
    best = context.analysis.lines["product_id"].value_counts().index[0]

    def answers() -> list[str]:
        functions = ToolFunctions(context)
        return [functions.top_products(product=best, by="orders", top=50),
                functions.top_products(country="France", by="customers", top=50),
                functions.top_products(not_bought=best, segment="at risk", top=50)]

    expected = answers()
    monkeypatch.setattr(tools_module, "_ONE_INTEGER", 0)
    assert answers() == expected


def test_prepared_codes_answer_as_unprepared_ones_also_while_preparing(context):
    # the app prepares in a thread once an analysis is loaded; a question asked meanwhile
    # waits for the codes it needs and answers as it would have
    def answers(tools: dict) -> list[str]:
        said = [tools["top_products"].invoke({"segment": "champions"}),
                tools["top_products"].invoke({"by": "orders", "top": 5}),
                tools["breakdown"].invoke({"by": "country"}),
                tools["breakdown"].invoke({"by": "channel"})]
        best = json.loads(said[1])["products"][0]["product_id"]
        # the pairs, the buyers' products, a country's and the trends are made ahead too
        return [*said, tools["bought_together"].invoke({}),
                tools["bought_together"].invoke({"product": best, "by": "lift"}),
                tools["bought_together"].invoke({"across": "customers", "by": "lift"}),
                tools["bought_together"].invoke({"across": "orders", "product": best}),
                tools["top_products"].invoke({"product": best, "by": "customers"}),
                tools["top_products"].invoke({"country": "Germany", "not_bought": best}),
                tools["product_trend"].invoke({"days": 60, "by": "orders"}),
                tools["top_products"].invoke({"recent_days": 30, "country": "France"})]

    expected = answers({t.name: t for t in build_tools(context)})
    functions = ToolFunctions(context)
    worker = threading.Thread(target=functions.prepare)
    worker.start()
    assert answers({t.name: t for t in build_tools(context, functions)}) == expected
    worker.join(timeout=60)
    # lines without a product or an order id, and a shop without those columns
    orders, _ = generate_sample_shop(customers=300, months=12, seed=2)
    orders.loc[orders.index[::5], "order_id"] = None
    lines, report = clean_orders(orders)
    shop = AdvisorContext(analyze(lines, cleaning=report, run_backtest=False))
    prepared = ToolFunctions(shop)
    prepared.prepare()
    assert set(prepared._baskets_made) == {"order", "customer"}  # both kinds made ahead
    assert answers({t.name: t for t in build_tools(shop, prepared)}) == \
        answers({t.name: t for t in build_tools(shop)})
    lines, report = clean_orders(orders.drop(columns=["product_id", "order_id", "channel"]))
    ToolFunctions(AdvisorContext(analyze(lines, cleaning=report, run_backtest=False))).prepare()


def test_products_and_breakdowns_say_which_column_to_map_when_it_is_missing():
    orders, _ = generate_sample_shop(customers=300, months=12, seed=2)
    orders = orders.drop(columns=["product_id", "product_name", "channel"])
    lines, report = clean_orders(orders)
    tools = {t.name: t for t in build_tools(AdvisorContext(analyze(lines, cleaning=report,
                                                                   run_backtest=False)))}
    for name, args, field in (("top_products", {}, "product_id"),
                              ("breakdown", {"by": "channel"}, "channel")):
        with pytest.raises(ToolException, match=rf"no .* column; map one .*{field}=HEADER"):
            tools[name].func(**args)
    # columns that are there but empty
    orders, _ = generate_sample_shop(customers=300, months=12, seed=2)
    lines, report = clean_orders(orders.assign(product_id=None, channel=None))
    tools = {t.name: t for t in build_tools(AdvisorContext(analyze(lines, cleaning=report,
                                                                   run_backtest=False)))}
    with pytest.raises(ToolException, match=r"no product column with values; map one"):
        tools["top_products"].func()
    with pytest.raises(ToolException, match=r"channel column is empty; map another"):
        tools["breakdown"].func(by="channel")


def test_an_unknown_ranking_is_an_error_that_lists_the_choices(context):
    tools = {t.name: t for t in build_tools(context)}
    with pytest.raises(ToolException, match="predicted_clv, monetary"):
        tools["top_customers"].func(by="coolness")


def test_offline_answer_numbers_come_from_the_tools(context):
    result = Advisor(context, OFFLINE).ask("which segment is churning?")
    payload = result.tool_calls[0]["result"]
    top = payload["segments"][0]
    assert f"**{top['segment']}**" in result.answer
    assert f"{top['revenue_at_risk']:,.2f}" in result.answer
    churn = context.analysis.customers["churn_probability"]  # the shop's churn rate ahead
    assert f"is {churn.mean():.1%} on average: about {round(churn.sum()):,} of the " \
           f"{len(churn):,} customers" in result.answer
    numbers = re.findall(r"\d[\d,]*\.\d+", result.answer)
    blob = json.dumps(payload)
    for number in numbers:  # every decimal number in the answer is in the tool result
        value = float(number.replace(",", ""))
        assert any(abs(value - abs(float(x))) < 0.006 or abs(value - 100 * abs(float(x))) < 0.06
                   for x in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", blob)), number


def test_how_good_the_models_are_is_the_backtests_answer(context):
    backtest = context.analysis.diagnostics["backtest"]
    churn, clv = backtest["churn"], backtest["clv"]["metrics"]
    result = Advisor(context, OFFLINE).ask("how accurate is the churn model?")
    assert [c["name"] for c in result.tool_calls] == ["model_quality"]
    answer = result.answer
    assert f"orders up to {backtest['cutoff']}" in answer
    assert f"{churn['customers']:,} customers" in answer
    metrics, margin = churn["metrics"], churn["margin"]
    assert f"ROC AUC **{metrics['model']['roc_auc']:.3f}**" in answer
    assert f"against {metrics['recency']['roc_auc']:.3f} for ranking by days since the last " \
           f"order and {metrics['bgnbd']['roc_auc']:.3f} for BG/NBD" in answer
    assert f"churned {metrics['model']['top_decile_lift']:.1f}× as often" in answer
    assert f"is {margin['roc_auc_difference']:+.3f} in ROC AUC (95% interval " \
           f"{margin['ci95_low']:+.3f} to {margin['ci95_high']:+.3f})" in answer
    assert f"rank correlation of {clv['model']['spearman']:.2f}" in answer
    assert f"{clv['model']['actual_total']:,.2f} actually spent" in answer
    recs = backtest["recommendations"]["metrics"]
    assert f"{recs['model']['hit_rate']:.1%} of customers bought at least one" in answer


def test_month_by_month_answers_from_the_monthly_table(context, sample_analysis):
    monthly = sample_analysis.monthly
    result = Advisor(context, OFFLINE).ask("how is revenue trending month by month?")
    assert [c["name"] for c in result.tool_calls] == ["monthly_trend"]
    latest, before = monthly.index[-1], monthly.index[-2]  # as_of is a month's last day
    row = monthly.loc[latest].astype(object).to_dict()
    row = {k: int(v) if k != "revenue" else v for k, v in row.items() if k != "avg_order_value"}
    change = row["revenue"] / monthly.loc[before, "revenue"] - 1
    assert f"In **{latest}**, the last complete month, {row['active_customers']:,} " \
           f"customers ({row['new_customers']:,} of them new) placed {row['orders']:,} " \
           f"orders worth **{row['revenue']:,.2f}**" in result.answer
    assert f"revenue {change:+.1%} on {before}" in result.answer
    table = [line for line in result.answer.splitlines() if line.startswith("| 20")]
    assert [line.split(" | ")[0].strip("| ") for line in table] == list(monthly.index[-12:])


def test_a_month_without_orders_is_a_zero_and_a_month_in_progress_is_said():
    lines, _ = clean_orders(generate_sample_shop(customers=300, seed=3)[0])
    lines = lines.loc[lines["order_date"].dt.to_period("M").astype(str) != "2025-06"]
    analysis = analyze(lines, as_of="2025-09-15", run_backtest=False)
    trend = json.loads(ToolFunctions(AdvisorContext(analysis)).monthly_trend(months=6))
    months = {row["month"]: row for row in trend["months"]}
    assert list(months) == ["2025-04", "2025-05", "2025-06", "2025-07", "2025-08", "2025-09"]
    assert months["2025-06"]["orders"] == 0 and months["2025-06"]["revenue"] == 0
    assert months["2025-06"]["avg_order_value"] is None
    assert (trend["partial_month"], trend["latest"], trend["year_before"]) == (
        "2025-09", "2025-08", "2024-08")
    answer = Advisor(AdvisorContext(analysis), OFFLINE).ask("sales trend").answer
    assert "2025-09 counts the orders up to 2025-09-15 only." in answer
    # a shop in its first month: that month is the latest, said to be partial
    young = analyze(lines.loc[lines["order_date"] < "2024-01-20"], as_of="2024-01-19",
                    run_backtest=False)
    trend = json.loads(ToolFunctions(AdvisorContext(young)).monthly_trend())
    assert (trend["latest"], trend["partial_month"], trend["previous"]) == (
        "2024-01", "2024-01", None)
    answer = Advisor(AdvisorContext(young), OFFLINE).ask("sales trend").answer
    assert answer.startswith("In **2024-01**, ") and "None" not in answer
    assert "2024-01 counts the orders up to 2024-01-19 only." in answer
    # too young to learn churn from: the glossary says where its probabilities come from
    meaning = Advisor(AdvisorContext(young), OFFLINE).ask("What does churn probability mean?")
    assert "too short or too small to learn it from" in meaning.answer
    assert "It is learned from this shop's own history" not in meaning.answer
    assert young.diagnostics["churn"]["fallback_reason"] and "ROC AUC" not in meaning.answer


def test_one_cohort_is_its_row_of_the_cohort_table(context, sample_analysis):
    cohorts = sample_analysis.cohorts.assign(cohort=lambda t: t["cohort"].astype(str))
    march = sorted(c for c in cohorts["cohort"].unique() if c.endswith("-03"))[-1]
    rows = cohorts.loc[cohorts["cohort"] == march].set_index("period")
    result = Advisor(context, OFFLINE).ask("how did the March cohort retain?")
    assert f"The **{march}** cohort ({rows['cohort_size'].iloc[0]:,} customers" in result.answer
    for period in range(1, 7):
        assert f"| M{period} | {rows.loc[period, 'retention']:.1%} |" in result.answer
    tools = {t.name: t for t in build_tools(context)}
    with pytest.raises(ToolException, match="cohorts are the months from 20"):
        tools["cohort_retention"].func(cohort="1999-01")


def test_cohorts_are_listed_and_ranked_by_the_months_that_are_over(context, sample_analysis):
    cohorts = sample_analysis.cohorts.assign(cohort=lambda t: t["cohort"].astype(str))
    retention = cohorts.set_index(["cohort", "period"])["retention"]
    sizes = cohorts.drop_duplicates("cohort").set_index("cohort")["cohort_size"]
    as_of = sample_analysis.as_of  # the sample ends on a month's last day: that month is over
    assert as_of.is_month_end
    months = {c: (as_of.year - int(c[:4])) * 12 + as_of.month - int(c[5:]) for c in sizes.index}

    def share(cohort: str, period: int) -> float | None:
        if period > months[cohort]:
            return None  # not over yet
        return float(retention.get((cohort, period), 0.0))

    advisor = Advisor(context, OFFLINE)
    listed = advisor.ask("cohort retention please")
    rows = listed.tool_calls[0]["result"]["cohorts"]
    assert [r["cohort"] for r in rows] == sorted(sizes.index)[-12:]
    for row in rows:
        assert row["customers"] == sizes[row["cohort"]]
        for period in (1, 3, 6):
            want = share(row["cohort"], period)
            assert row[f"M{period}"] == (None if want is None else pytest.approx(want,
                                                                                 abs=1e-4))
    assert rows[-1]["M1"] is None  # the latest cohort has had no month after its first
    assert "| cohort | customers | 1st month | 3rd month | 6th month |" in listed.answer
    best = advisor.ask("which cohort retains best?")
    payload = best.tool_calls[0]["result"]
    eligible = {c: share(c, 3) for c in sizes.index
                if share(c, 3) is not None and sizes[c] >= 30}
    assert payload["cohorts_ranked"] == len(eligible)
    assert [r["cohort"] for r in payload["cohorts"]] == sorted(
        eligible, key=lambda c: (-eligible[c], -sizes[c]))[:6]
    worst = advisor.ask("which cohort has the worst retention?").tool_calls[0]["result"]
    assert worst["cohorts"][0]["M3"] == pytest.approx(min(eligible.values()), abs=1e-4)
    assert f"of {len(eligible)} cohorts of at least 30 customers whose third month is over" \
        in best.answer


def test_the_clusters_overview_is_the_analysis_clusters_with_their_labels(context,
                                                                          sample_analysis):
    clusters = sample_analysis.clusters
    result = Advisor(context, OFFLINE).ask("what are the behavioural clusters?")
    assert f"fall into {len(clusters)} behavioural clusters" in result.answer
    rows = [line.split(" | ") for line in result.answer.splitlines() if line.startswith("| ")
            and not line.startswith(("| cluster", "|---"))]
    assert [(int(r[0].strip("| ")), r[1]) for r in rows] == [
        (c, clusters.loc[c, "label"]) for c in
        clusters.sort_values("revenue_share", ascending=False).index]


def test_customers_without_an_order_for_so_long_are_those_and_counted(context,
                                                                      sample_analysis):
    recency = sample_analysis.customers["recency_days"]
    result = Advisor(context, OFFLINE).ask("which customers haven't ordered in 6 months?")
    payload = result.tool_calls[0]["result"]
    assert payload["customers_in_scope"] == (recency >= 180).sum()
    assert all(row["recency_days"] >= 180 for row in payload["customers"])
    assert f"without an order for 180 days or more ({(recency >= 180).sum():,} in all)" \
        in result.answer
    ids = [row["customer_id"] for row in payload["customers"]]
    inactive = sample_analysis.customers.loc[recency >= 180]
    assert ids == inactive.nlargest(10, "revenue_at_risk").index.tolist()


def test_one_time_buyers_are_those_with_one_order_and_counted(context, sample_analysis):
    customers = sample_analysis.customers
    once = customers.loc[customers["frequency"] == 1]
    result = Advisor(context, OFFLINE).ask("who are my one-time buyers?")
    payload = result.tool_calls[0]["result"]
    assert [row["customer_id"] for row in payload["customers"]] == \
        once.nlargest(10, "revenue_at_risk").index.tolist()
    assert f"with one order only ({len(once):,} in all)" in result.answer


def test_the_overview_shows_each_segments_change_in_size(context, sample_analysis):
    segments = sample_analysis.segments.loc[sample_analysis.segments["kind"] == "rfm"]
    days = sample_analysis.diagnostics["trend_days"]
    answer = Advisor(context, OFFLINE).ask("which segment grew the most?").answer
    assert f"| segment | customers | change in {days} days |" in answer
    for row in segments.itertuples():
        assert f"| {row.segment} | {row.customers} | {row.customers_change:+,} |" in answer
    listed = [line.split(" | ")[0].strip("| ") for line in answer.splitlines()
              if line.startswith("| ") and not line.startswith(("| segment", "|---"))]
    assert listed == segments.sort_values("customers_change", ascending=False,
                                          kind="stable")["segment"].tolist()


def test_segments_compared_are_those_asked_for_only(context, sample_analysis):
    result = Advisor(context, OFFLINE).ask("compare Hibernating and Champions")
    rows = [line.split(" | ")[0].strip("| ") for line in result.answer.splitlines()
            if line.startswith("| ") and not line.startswith(("| segment", "|---"))]
    assert rows == ["Hibernating", "Champions"]
    size = (sample_analysis.customers["rfm_segment"] == "Hibernating").sum()
    assert f"| Hibernating | {size} |" in result.answer


def test_every_churn_reason_is_one_driver_and_the_counts_are_its_customers(context,
                                                                         sample_analysis):
    from advisor.tools import CHURN_DRIVERS

    customers = sample_analysis.customers
    # each reason the analysis wrote says exactly one driver's words (overdue also says
    # "no order for", which alone is silent): a new form of reason fails here
    parts = pd.Series(customers["churn_reasons"].str.split("; ").explode().unique())
    for part in parts:
        said = [name for name, words in CHURN_DRIVERS if words in part]
        assert said in (["overdue", "silent"], ["overdue"]) or len(said) == 1, (part, said)
    segment = "Loyal Customers"
    tools = {t.name: t for t in build_tools(context)}
    result = json.loads(tools["churn_drivers"].func(segment=segment))
    mine = customers.loc[customers["rfm_segment"] == segment]
    reasons = mine["churn_reasons"]
    overdue = reasons.str.contains("× their usual gap", regex=False)
    expected = {"overdue": overdue,
                "one_order": reasons.str.startswith("one order only"),
                "slowing": reasons.str.contains(r"\d orders? in the last \d+ days against"),
                "silent": reasons.str.contains(r"no order for \d+ days(?:;|$)"),
                "usual_pace": reasons == "buying at their usual pace"}
    rows = {row["driver"]: row for row in result["drivers"]}
    for name, mask in expected.items():
        if mask.any():
            assert rows[name]["customers"] == mask.sum(), name
            assert rows[name]["revenue_at_risk"] == pytest.approx(
                mine.loc[mask, "revenue_at_risk"].sum(), abs=0.01), name
        else:
            assert name not in rows, name
    assert result["customers"] == len(mine)
    answer = Advisor(context, OFFLINE).ask(f"why is {segment} churning?").answer
    pace = rows["usual_pace"]
    assert f"| no warning sign: buying at their usual pace | {pace['customers']} | " \
           f"{pace['share']:.1%} |" in answer


def test_a_backtest_without_an_auc_is_answered_with_n_a(sample_analysis):
    # every customer of the backtest churned: no ROC AUC, lift or rank correlation
    backtest = json.loads(json.dumps(sample_analysis.diagnostics["backtest"]))
    for metrics in backtest["churn"]["metrics"].values():
        metrics.update(roc_auc=None, top_decile_lift=None)
    for metrics in backtest["clv"]["metrics"].values():
        metrics["spearman"] = None
    backtest["churn"]["margin"] = None
    diagnostics = {**sample_analysis.diagnostics, "backtest": backtest}
    unranked = dataclasses.replace(sample_analysis, diagnostics=diagnostics)
    answer = Advisor(AdvisorContext(unranked), OFFLINE).ask("how accurate is the model?").answer
    assert "ROC AUC **n/a**" in answer and "rank correlation of n/a" in answer
    assert "lead over" not in answer


def test_without_a_backtest_the_model_quality_answer_says_so(sample_analysis):
    diagnostics = {k: v for k, v in sample_analysis.diagnostics.items() if k != "backtest"}
    unmeasured = dataclasses.replace(sample_analysis, diagnostics=diagnostics)
    answer = Advisor(AdvisorContext(unmeasured), OFFLINE).ask("can I trust the model?").answer
    assert "no backtest to measure the models with: the analysis ran without a backtest" \
        in answer
    assert "ROC AUC" not in answer


def test_a_customers_recommendations_are_the_analysis_ones_with_product_names(context,
                                                                          sample_analysis):
    tools = {t.name: t for t in build_tools(context)}
    recs = sample_analysis.recommendations
    customer = recs["customer_id"].iloc[len(recs) // 2]
    payload = json.loads(tools["recommendations"].invoke({"customer_id": customer, "n": 3}))
    expected = recs.loc[recs["customer_id"] == customer].head(3)
    assert [r["product_id"] for r in payload["recommendations"]] == \
        expected["product_id"].tolist()
    lines = sample_analysis.lines
    for rec in payload["recommendations"]:
        named = lines.loc[lines["product_id"] == rec["product_id"], "product_name"]
        assert rec["name"] == named.iloc[0] and rec["name"]
    profile = json.loads(tools["customer_profile"].invoke({"customer_id": customer}))
    assert profile["recommendations"] == payload["recommendations"]


def test_recommendations_without_a_product_column_say_how_to_map_one():
    orders, _ = generate_sample_shop(customers=300, months=12, seed=2)
    lines, _ = clean_orders(orders[["customer_id", "order_id", "order_date", "amount"]])
    analysis = analyze(lines, run_backtest=False)
    tools = {t.name: t for t in build_tools(AdvisorContext(analysis))}
    answer = tools["recommendations"].invoke({"customer_id": analysis.customers.index[0]})
    assert "no product column" in answer and "Data tab (field product_id)" in answer


def test_offline_model_says_what_it_can_do(context):
    result = Advisor(context, OFFLINE).ask("what's the weather in Paris?")
    assert result.tool_calls == [] and "I can answer" in result.answer


def test_nothing_sent_to_the_model_contains_raw_rows_or_identifiers(tmp_path):
    rows = []
    for i in range(400):
        for j in range(1 + i % 4):
            rows.append({"Customer ID": f"C{i:04d}", "Email": f"person{i}@example.com",
                         "Name": f"Jane Roe{i}", "Phone": f"+44 7700 9{i:05d}",
                         "Address": f"{i} Privacy Street", "Invoice": f"INV{i}-{j}",
                         "InvoiceDate": f"2024-{1 + (i + 3 * j) % 12:02d}-{1 + j:02d}",
                         "Amount": 10.0 + i % 7})
    path = tmp_path / "pii.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    analysis = analyze_file(path, run_backtest=False)
    model = ScriptedChatModel(script=[
        tool_call("segment_overview"), tool_call("customer_profile", "c2", customer_id="C0007"),
        tool_call("at_risk_customers", "c3", top=20), AIMessage(content="done")])
    Advisor(AdvisorContext(analysis), OFFLINE, model=model).ask("tell me everything")
    sent = "\n".join(str(m.content) for call in model.received for m in call)
    assert "C0007" in sent  # per-customer summaries are allowed
    for forbidden in ("@example.com", "Jane Roe", "+44 7700", "Privacy Street", "INV7-"):
        assert forbidden not in sent, forbidden


def test_a_shop_keyed_by_email_keeps_addresses_from_the_model_but_not_from_its_user(
        tmp_path):
    """Shopify's export has no customer id: customers are e-mail addresses. The model sees
    hashes only; the exported audience and contacts.csv say whom to mail."""
    from advisor.storage import PlanStore
    from analytics.outputs import write_outputs

    rows = [{"Email": f"Person{i}@Example.com", "Created at": f"2024-{1 + (i + 5 * j) % 12:02d}"
             f"-{1 + j:02d}", "Total": 20.0 + i % 9}
            for i in range(400) for j in range(1 + i % 4)]
    path = tmp_path / "orders_export.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    analysis = analyze_file(path, run_backtest=False)
    assert not analysis.customers.index.str.contains("@").any()
    segment = analysis.customers["rfm_segment"].value_counts().index[0]
    store = PlanStore(tmp_path / "home")
    model = ScriptedChatModel(script=[
        tool_call("segment_overview"), tool_call("at_risk_customers", "c2", top=20),
        tool_call("campaign_plan", "c3", segment=str(segment)), AIMessage(content="done")])
    Advisor(AdvisorContext(analysis, store=store), OFFLINE, model=model).ask("plan it")
    sent = "\n".join(str(m.content) for call in model.received for m in call).lower()
    assert "plan_id" in sent and "@example.com" not in sent

    plan_id = int(store.list_plans()["id"].iloc[0])
    _, csv_path = store.export_plan(plan_id, tmp_path / "exports")
    audience = pd.read_csv(csv_path, dtype=str).set_index("customer_id")
    assert len(audience) > 0 and audience["contact"].str.endswith("@Example.com").all()
    paths = write_outputs(analysis, tmp_path / "out")
    contacts = pd.read_csv(paths["contacts"], dtype=str).set_index("customer_id")["contact"]
    assert sorted(contacts.index) == sorted(analysis.customers.index)  # one per customer
    assert (audience["contact"] == contacts.reindex(audience.index)).all()
    first = contacts[contacts == "Person7@Example.com"].index[0]  # the hash is of the
    assert first == hashlib.blake2b(b"person7@example.com", digest_size=8).hexdigest()
    assert "@example.com" not in json.dumps(analysis.summary(), default=str).lower()


class _ChatCompletions(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible server: calls churning_segments, then answers with its top
    segment taken from the tool result it receives."""

    requests: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _ChatCompletions.requests.append(body)
        tool_results = [m for m in body["messages"] if m["role"] == "tool"]
        if not tool_results:
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_abc", "type": "function",
                "function": {"name": "churning_segments", "arguments": "{}"}}]}
            finish = "tool_calls"
        else:
            top = json.loads(tool_results[-1]["content"])["segments"][0]
            message = {"role": "assistant",
                       "content": f"{top['segment']} has {top['revenue_at_risk']} at risk."}
            finish = "stop"
        if body.get("stream"):
            self._stream(body, message, finish)
            return
        reply = json.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def _stream(self, body: dict, message: dict, finish: str) -> None:
        """Server-sent events, as OpenAI streams: tool calls whole, text in pieces."""
        if message.get("tool_calls"):
            deltas = [{"role": "assistant", "tool_calls": [
                {"index": 0, **message["tool_calls"][0]}]}]
        else:
            words = message["content"].split(" ")
            deltas = [{"role": "assistant", "content": ""}] + [
                {"content": w + (" " if i < len(words) - 1 else "")}
                for i, w in enumerate(words)]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for i, delta in enumerate([*deltas, {}]):
            chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                     "model": body["model"], "choices": [{
                         "index": 0, "delta": delta,
                         "finish_reason": finish if i == len(deltas) else None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def openai_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatCompletions)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    _ChatCompletions.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_openai_compatible_server_over_real_http(context, openai_server):
    settings = load_settings({"OPENAI_BASE_URL": openai_server, "ADVISOR_MODEL": "local-llm",
                              "ADVISOR_TIMEOUT": "10"}, env_file=None)
    assert settings.provider == "openai"
    result = Advisor(context, settings).ask("which segment is churning?")
    top = context.analysis.segments.query("kind == 'rfm'").nlargest(1, "revenue_at_risk")
    assert result.answer.startswith(top["segment"].iloc[0])
    assert [c["name"] for c in result.tool_calls] == ["churning_segments"]
    first = _ChatCompletions.requests[0]
    assert first["model"] == "local-llm"
    assert {t["function"]["name"] for t in first["tools"]} >= {"churning_segments",
                                                              "campaign_plan"}
    # the model can choose the same customers the offline advisor can
    params = {t["function"]["name"]: set(t["function"]["parameters"]["properties"])
              for t in first["tools"]}
    for name in ("at_risk_customers", "top_customers", "top_products", "campaign_plan"):
        assert {"segment", "country", "inactive_days", "one_order_only",
                "min_spend"} <= params[name], name
    # and ask of products what it can: lately, on the rise, bought together
    assert "recent_days" in params["top_products"]
    assert {"days", "direction", "by", "segment", "country"} <= params["product_trend"]
    assert {"product", "by", "across", "top"} <= params["bought_together"]
    assert "local-llm" in result.model


def test_unreachable_server_is_a_clear_message(context):
    settings = load_settings({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
                              "ADVISOR_TIMEOUT": "3"}, env_file=None)
    result = Advisor(context, settings).ask("which segment is churning?")
    assert result.error and "OPENAI_BASE_URL" in result.error


def test_a_malformed_tool_call_goes_back_to_the_model(context):
    model = ScriptedChatModel(script=[
        tool_call("no_such_tool", foo=1),
        tool_call("at_risk_customers", call_id="call_2", top="many"),
        AIMessage(content="Sorry, let me know which segment."),
    ])
    result = Advisor(context, OFFLINE, model=model).ask("do something odd")
    errors = [m for m in model.received[-1]
              if isinstance(m, ToolMessage) and m.status == "error"]
    assert len(errors) == 2
    assert "no_such_tool" in errors[0].content
    assert result.answer == "Sorry, let me know which segment." and result.error is None


def test_every_example_question_of_the_app_is_understood():
    from advisor.web import MARKETER_EXAMPLES, OPERATOR_EXAMPLES

    for question in OPERATOR_EXAMPLES + MARKETER_EXAMPLES:
        assert interpret(question).kind != "help", question


def test_what_to_do_for_a_segment_gives_the_playbook_and_the_next_question(
        sample_analysis, playbook_kb):
    advisor = Advisor(AdvisorContext(sample_analysis, knowledge=playbook_kb), OFFLINE)
    result = advisor.ask("what should I do for hibernating customers?")
    call = result.tool_calls[0]
    assert (call["name"], call["args"]["segment"]) == ("playbook_search", "Hibernating")
    assert all(p["source"] in result.answer for p in call["result"]["passages"][:3])
    assert 'ask: "draft a campaign for Hibernating"' in result.answer
    assert interpret("draft a campaign for Hibernating").calls == [
        ("campaign_plan", {"segment": "Hibernating"})]
    # in Chinese, the next question is Chinese, and is understood too
    result = advisor.ask("如何唤醒沉睡客户？")
    assert result.tool_calls[0]["args"]["segment"] == "Hibernating"
    follow_up = re.search(r'可以问："([^"]+)"', result.answer).group(1)
    assert interpret(follow_up).calls == [("campaign_plan",
                                           {"segment": "Hibernating", "language": "zh"})]


def test_a_saved_campaign_is_measured_on_a_newer_export_treated_against_holdout(
        tmp_path, sample_analysis):
    from advisor.storage import PlanStore
    from analytics.experiments import uplift_test
    from analytics.sample import SAMPLE_SHOP_PATH

    store = PlanStore(tmp_path)
    early = analyze_file(SAMPLE_SHOP_PATH, as_of="2025-10-31")
    advisor = Advisor(AdvisorContext(early, store=store), OFFLINE)
    advisor.ask("draft a win-back campaign for Hibernating")
    # the data the plan was drafted on hold nothing after it: nothing to measure yet
    waiting = advisor.ask("how did the campaign do?")
    assert waiting.tool_calls[0]["result"]["measured"] is False
    assert "cannot be measured yet" in waiting.answer and "2025-10-31" in waiting.answer

    # the shop's newer export: the audience's orders in the 61 days after the plan
    later = Advisor(AdvisorContext(sample_analysis, store=store), OFFLINE)
    result = later.ask("Did plan 1 work?")
    payload = result.tool_calls[0]["result"]
    assert payload["observed_days"] == (sample_analysis.as_of - pd.Timestamp("2025-10-31")).days
    audience = store.plan_audience(1)
    orders = sample_analysis.orders
    after = orders.loc[orders["order_date"] >= pd.Timestamp("2025-11-01"), "customer_id"]
    ordered = audience.index.isin(after.astype(str))
    held = (audience["group"] == "holdout").to_numpy()
    groups = payload["groups"]
    assert (groups["treatment"]["customers"], groups["holdout"]["customers"]) == (
        int((~held).sum()), int(held.sum()))
    assert groups["treatment"]["ordered"] == int(ordered[~held].sum())
    assert groups["holdout"]["ordered"] == int(ordered[held].sum())
    late = orders.loc[orders["order_date"] >= pd.Timestamp("2025-11-01")]
    spend = late.groupby(late["customer_id"].astype(str))["amount"].sum().reindex(
        audience.index, fill_value=0.0).to_numpy()
    assert spend[~held].sum() > 0
    assert groups["treatment"]["revenue"] == pytest.approx(spend[~held].sum(), abs=0.01)
    assert groups["holdout"]["revenue"] == pytest.approx(spend[held].sum(), abs=0.01)
    test = uplift_test(int(ordered[~held].sum()), int((~held).sum()),
                       int(ordered[held].sum()), int(held.sum()))
    assert payload["uplift"]["p_value"] == pytest.approx(test.p_value, abs=1e-4)
    assert payload["uplift"]["significant"] == test.significant
    treated_rate = f"{groups['treatment']['rate']:.1%} of the {int((~held).sum()):,} treated"
    assert treated_rate in result.answer
    assert f"(of its 90 days: the data end on {sample_analysis.as_of.date()})" in result.answer
    assert ("within chance" in result.answer) != test.significant

    # a plan that is not there names those that are
    missing = later.ask("did plan 9 work?")
    assert "no saved plan 9" in missing.answer and "saved plans are 1" in missing.answer


def test_a_campaign_is_not_measured_on_another_shops_data(tmp_path, sample_analysis):
    from advisor.storage import PlanStore

    store = PlanStore(tmp_path)
    audience = pd.DataFrame({"group": ["treatment"] * 8 + ["holdout"] * 2},
                            index=pd.Index([f"X{i}" for i in range(10)], name="customer_id"))
    store.save_plan({"segment": "Lost", "horizon_days": 90}, audience, name="Lost: win-back",
                    source="other.csv", as_of="2025-06-30")
    result = Advisor(AdvisorContext(sample_analysis, store=store), OFFLINE).ask(
        "was the last campaign successful?")
    assert result.tool_calls[0]["result"]["measured"] is False
    assert "only 0 of its 10 customers are in them" in result.answer


def test_a_coupon_for_customers_without_an_order_for_so_long_is_a_saved_plan_for_them(
        tmp_path, sample_analysis):
    from advisor.storage import PlanStore

    store = PlanStore(tmp_path)
    advisor = Advisor(AdvisorContext(sample_analysis, store=store), OFFLINE)
    result = advisor.ask("Send a 15% off coupon to customers who haven't ordered in 90 days")
    plan = result.tool_calls[0]["result"]
    customers = sample_analysis.customers
    lapsed = customers.index[customers["recency_days"] >= 90].astype(str)
    assert plan["audience_size"] == len(lapsed) and plan["discount"] <= 0.15
    # every such customer, whatever their segment, is in the saved list, in a group
    audience = store.plan_audience(plan["plan_id"])
    assert sorted(audience.index) == sorted(lapsed)
    assert set(audience["group"]) == {"treatment", "holdout"}
    assert customers.loc[lapsed, "rfm_segment"].nunique() > 1
    assert store.get_plan(plan["plan_id"]).segment == "No order for 90+ days"
    assert result.answer.startswith(
        f"I drafted a plan for **No order for 90+ days** (saved as plan {plan['plan_id']}): "
        f"win-back coupon at **{plan['discount']:.0%} off** to {plan['treatment_size']:,} "
        "customers")
    german = advisor.ask("Schick einen Gutschein an Kunden, die seit 3 Monaten nicht "
                         "bestellt haben")
    assert "**Seit 90+ Tagen ohne Bestellung**" in german.answer
    assert "das übliche Rückgewinnungsangebot 15%" in german.answer
    # more days than any customer has gone without an order: what to change
    longest = int(customers["recency_days"].max())
    none = advisor.ask(f"send a coupon to customers who haven't ordered in {longest + 1} days")
    assert f"the longest is {longest} days); choose fewer days" in none.answer


def test_a_term_is_explained_as_this_analysis_computes_it(context, sample_analysis):
    from analytics.rfm import DEFAULT_SEGMENT_RULES

    advisor = Advisor(context, OFFLINE)
    rules = advisor.ask("How are segments defined?")
    counts = sample_analysis.customers["rfm_segment"].value_counts()
    rows = [line.split(" | ") for line in rules.answer.splitlines()
            if line.startswith("| ") and not line.startswith(("| segment", "|---"))]
    assert [r[0].strip("| ") for r in rows] == [rule.name for rule in DEFAULT_SEGMENT_RULES]
    assert [int(r[4].strip("| ").replace(",", "")) for r in rows] == [
        int(counts.get(rule.name, 0)) for rule in DEFAULT_SEGMENT_RULES]
    assert "| Champions | 4–5 | 4–5 | 2+ |" in rules.answer
    assert "| New Customers | 5 | any | 1 |" in rules.answer

    churn = advisor.ask("What does churn probability mean?")
    auc = sample_analysis.diagnostics["backtest"]["churn"]["metrics"]["model"]["roc_auc"]
    horizon = sample_analysis.horizon_days
    assert f"no order in the next {horizon} days" in churn.answer
    assert f"ROC AUC of {auc:.3f}" in churn.answer
    assert "a blend of logistic regression and gradient boosting" in churn.answer
    german = advisor.ask("Was bedeutet Abwanderungswahrscheinlichkeit?")
    assert "**Abwanderungswahrscheinlichkeit**" in german.answer
    assert f"ROC AUC von {auc:.3f}".replace(".", ",") in german.answer

    tools = {t.name: t for t in build_tools(context)}
    with pytest.raises(ToolException, match="no glossary entry for 'margin'; choose one of rfm"):
        tools["glossary"].func(term="margin")


@pytest.mark.parametrize("questions, tool, args", [
    # a plan, then what changes: its cap, its channel, its segment (the rest is kept)
    (["draft a win-back campaign for At Risk", "make it 10% off", "by sms instead",
      "and for Hibernating?"], "campaign_plan",
     {"segment": "Hibernating", "discount_cap": 0.1, "channel": "sms"}),
    (["top 10 at-risk customers in Champions", "top 20", "and in Loyal Customers?"],
     "at_risk_customers", {"top": 20, "segment": "Loyal Customers"}),
    (["which segment is churning?", "what about Champions?"], "churning_segments",
     {"segment": "Champions"}),
    (["what do Champions buy?", "and Lost?"], "top_products",
     {"by": "revenue", "top": 10, "segment": "Lost"}),
    (["what do Champions buy?", "and in France?"], "top_products",
     {"by": "revenue", "top": 10, "segment": "Champions", "country": "France"}),
    (["send a coupon to customers who haven't ordered in 90 days", "make it 4 months"],
     "campaign_plan", {"inactive_days": 120}),
    (["revenue by month", "the last 6 months"], "monthly_trend", {"months": 6}),
    (["Draft a win-back campaign for German customers", "and for France?"], "campaign_plan",
     {"segment": "At Risk", "country": "France"}),
    (["Erstelle eine Kampagne für Hibernating", "und für Lost?"], "campaign_plan",
     {"segment": "Lost", "language": "de"}),
    # "they", "them": the customers of the answer before, for what the question leaves out
    (["which customers in Germany are at risk?", "what do they buy?"], "top_products",
     {"by": "revenue", "top": 10, "segment": "At Risk", "country": "Germany"}),
    (["show me the Champions", "why are they leaving?"], "churn_drivers",
     {"segment": "Champions"}),
    (["how are the Champions doing?", "what do they buy?", "send them a 10% coupon"],
     "campaign_plan", {"segment": "Champions", "discount_cap": 0.1}),
    (["which customers in Germany are at risk?", "what do they buy?",
      "send them a 10% coupon"], "campaign_plan",
     {"segment": "At Risk", "discount_cap": 0.1, "country": "Germany"}),
    (["who hasn't ordered in 90 days?", "send them a 10% coupon by email"], "campaign_plan",
     {"inactive_days": 90, "discount_cap": 0.1, "channel": "email"}),
    (["who are my one-time buyers?", "draft a campaign for them"], "campaign_plan",
     {"one_order_only": True}),
    (["top 10 customers in the UK", "what do they buy?"], "top_products",
     {"by": "revenue", "top": 10, "country": "United Kingdom"}),
    (["show me customer 004217", "what should I recommend to them?"], "recommendations",
     {"customer_id": "004217"}),
    (["top 10 at-risk customers in Champions", "what is their lifetime value?"],
     "clv_summary", {"segment": "Champions"}),
    (["what do Champions buy?", "how are they doing?"], "segment_overview",
     {"segments": ["Champions"]}),
    (["welche Kunden aus Deutschland sind gefährdet?", "Was kaufen sie?"], "top_products",
     {"by": "revenue", "top": 10, "country": "Germany"}),
    (["哪些流失风险客户在德国？", "他们买什么？"], "top_products",
     {"by": "revenue", "top": 10, "segment": "At Risk", "country": "Germany"}),
    (["who spent more than 2000?", "send them a 10% coupon"], "campaign_plan",
     {"segment": "At Risk", "min_spend": 2000, "discount_cap": 0.1}),
    (["who hasn't ordered in 6 months?", "what do they buy?"], "top_products",
     {"by": "revenue", "top": 10, "inactive_days": 180}),
    (["draft a win-back campaign for At Risk", "only those who spent over 1k"],
     "campaign_plan", {"segment": "At Risk", "min_spend": 1000}),
    (["who bought the most in the last 30 days?", "and in the last 90 days?"],
     "top_customers", {"top": 10, "by": "monetary", "recent_days": 90}),
    (["draft a win-back campaign for At Risk", "just the ones from France"],
     "campaign_plan", {"segment": "At Risk", "country": "France"}),
    (["which customers in Germany are at risk?", "and what do they buy in France?"],
     "top_products", {"by": "revenue", "top": 10, "segment": "At Risk", "country": "France"}),
    # what the question names itself wins; the polite German "Sie" is not "them"
    (["show me the Champions", "what do Lost customers buy?"], "top_products",
     {"by": "revenue", "top": 10, "segment": "Lost"}),
    (["Können Sie mir die Champions zeigen?", "Können Sie mir sagen, was Kunden kaufen?"],
     "top_products", {"by": "revenue", "top": 10}),
    # nothing before to refer to: the shop's
    (["which segment is churning?", "what do they buy?"], "top_products",
     {"by": "revenue", "top": 10}),
    # a question of its own is read alone, whatever came before
    (["draft a win-back campaign for At Risk", "which segment is churning?"],
     "churning_segments", {}),
    (["draft a win-back campaign for At Risk", "show me customer 004217"], "customer_profile",
     {"customer_id": "004217"}),
    (["which products are often bought together?", "and with P0311?"], "bought_together",
     {"product": "P0311"}),
    (["what goes with P0307?", "and by lift?"], "bought_together",
     {"product": "P0307", "by": "lift"}),
    (["哪些商品经常一起购买？", "那和P0311呢？"], "bought_together", {"product": "P0311"}),
    (["draft a win-back campaign for At Risk", "only those who bought P0307"], "campaign_plan",
     {"segment": "At Risk", "product": "P0307"}),
    (["which customers bought P0307?", "send them a 10% coupon"], "campaign_plan",
     {"segment": "At Risk", "product": "P0307", "discount_cap": 0.1}),
    (["which customers bought P0307?", "what do they buy?"], "top_products",
     {"by": "revenue", "top": 10, "product": "P0307"}),
    # nothing before to follow: the segment's row, as alone
    (["and for Champions?"], "segment_overview", {"segments": ["Champions"]}),
    (["what is RFM?", "and for Champions?"], "segment_overview", {"segments": ["Champions"]}),
])
def test_a_follow_up_changes_only_what_it_says_of_the_question_before(questions, tool, args):
    assert resolve(questions).calls == [(tool, args)]


def test_a_follow_up_in_the_chat_redrafts_the_plan_with_the_change(context):
    advisor = Advisor(context, OFFLINE)
    first = advisor.ask("draft a win-back campaign for At Risk", session_id="follow")
    second = advisor.ask("make it 10% off", session_id="follow")
    assert first.tool_calls[0]["args"] == {"segment": "At Risk"}
    assert second.tool_calls[0]["args"] == {"segment": "At Risk", "discount_cap": 0.1}
    assert second.tool_calls[0]["result"]["discount"] <= 0.10
    assert "your discount cap 10%" in second.answer
    # another session knows nothing of it
    alone = advisor.ask("make it 10% off", session_id="other")
    assert not alone.tool_calls
    # after a restart, the saved transcript brings the plan back as the question before
    restarted = Advisor(context, OFFLINE)
    history = [{"role": "user", "content": "draft a win-back campaign for At Risk"},
               {"role": "assistant", "content": first.answer}]
    again = restarted.result(list(restarted.stream("by sms instead", session_id="follow",
                                                   history=lambda: history)))
    assert again.tool_calls[0]["args"] == {"segment": "At Risk", "channel": "sms"}


def test_they_in_the_chat_are_the_customers_of_the_answer_before(context, sample_analysis):
    advisor = Advisor(context, OFFLINE)
    listed = advisor.ask("which customers in Germany are at risk?", session_id="they")
    bought = advisor.ask("what do they buy?", session_id="they")
    args = {"by": "revenue", "top": 10, "segment": "At Risk", "country": "Germany"}
    assert bought.tool_calls[0]["args"] == args
    assert listed.tool_calls[0]["result"]["country"] == "Germany"
    assert bought.tool_calls[0]["result"] == json.loads(
        ToolFunctions(context).top_products(**args))
    assert "best-selling products among At Risk from Germany" in bought.answer
    # the same words in another session, with nothing before: the shop's best sellers
    alone = advisor.ask("what do they buy?", session_id="other")
    assert alone.tool_calls[0]["args"] == {"by": "revenue", "top": 10}


def test_the_buyers_of_a_product_are_listed_ranked_and_planned_for(tmp_path, sample_analysis):
    from advisor.storage import PlanStore

    lines, customers = sample_analysis.lines, sample_analysis.customers
    names = lines.drop_duplicates("product_id").set_index("product_id")["product_name"]
    product = lines["product_id"].value_counts().index[1]
    buyers = set(lines.loc[lines["product_id"] == product, "customer_id"])
    functions = ToolFunctions(AdvisorContext(sample_analysis))
    listed = json.loads(functions.at_risk_customers(product=names[product].lower(), top=50))
    assert listed["product"] == {"product_id": product, "name": names[product]}
    assert listed["customers_in_scope"] == len(buyers)
    assert [c["customer_id"] for c in listed["customers"]] == customers.loc[
        customers.index.isin(buyers)].nlargest(50, "revenue_at_risk").index.tolist()
    at_risk = customers.index[customers["rfm_segment"] == "At Risk"]
    ranked = json.loads(functions.top_customers(by="monetary", segment="At Risk",
                                                product=product))
    assert ranked["customers_in_scope"] == len(buyers & set(at_risk))
    assert {c["customer_id"] for c in ranked["customers"]} <= buyers & set(at_risk)
    # their best sellers: the product itself is bought by every one of them
    sold = json.loads(functions.top_products(product=product, top=50))
    assert sold["customers_in_scope"] == len(buyers)
    mine = lines.loc[lines["customer_id"].isin(buyers)]
    assert sold["revenue_in_scope"] == pytest.approx(mine["amount"].sum(), abs=0.01)
    assert next(p for p in sold["products"] if p["product_id"] == product)["customers"] == \
        len(buyers)
    with pytest.raises(ToolException, match="no product 'Atlantis Lamp' in the data"):
        functions.at_risk_customers(product="Atlantis Lamp")
    # those who have not bought it, of a segment; and of its buyers, those without another
    lacking = json.loads(functions.top_customers(by="monetary", segment="Champions",
                                                 not_bought=product, top=200))
    champions = set(customers.index[customers["rfm_segment"] == "Champions"])
    assert lacking["customers_in_scope"] == len(champions - buyers)
    assert {c["customer_id"] for c in lacking["customers"]} <= champions - buyers
    other = lines["product_id"].value_counts().index[0]
    both = json.loads(functions.top_products(product=product, not_bought=other))
    assert both["customers_in_scope"] == len(buyers - set(
        lines.loc[lines["product_id"] == other, "customer_id"]))
    assert all(p["product_id"] != other for p in both["products"])
    # a plan for the At Risk customers who bought it, saved with its audience
    store = PlanStore(tmp_path)
    advisor = Advisor(AdvisorContext(sample_analysis, store=store), OFFLINE)
    plan = advisor.ask(f"send a 10% coupon to customers who bought {product}")
    payload = plan.tool_calls[0]["result"]
    assert set(store.plan_audience(payload["plan_id"]).index) == buyers & set(at_risk)
    assert f"I drafted a plan for **At Risk, bought {product}**" in plan.answer
    assert payload["audience_definition"].endswith(f"who bought {product}")
    answer = advisor.ask(f"which customers bought {product}?").answer
    assert f"customers who bought {product} ({names[product]}) with the most revenue" in answer
    # no buyer among those chosen: the error says among whom (the least bought product has
    # buyers in few segments)
    rare = lines["product_id"].value_counts().index[-1]
    theirs = customers.loc[customers.index.isin(lines.loc[lines["product_id"] == rare,
                                                          "customer_id"]), "rfm_segment"]
    missing = sorted(set(customers["rfm_segment"].astype(str)) - set(theirs.astype(str)))
    assert missing
    with pytest.raises(ToolException, match=rf"no segment '{missing[0]}'.*\(among the "
                                            rf"customers who bought {rare}"):
        functions.campaign_plan(segment=missing[0], product=rare, save=False)


def test_a_cross_sell_plan_offers_a_product_to_those_who_lack_it(tmp_path, sample_analysis,
                                                                 playbook_kb):
    from advisor.storage import PlanStore

    lines, customers = sample_analysis.lines, sample_analysis.customers
    names = lines.drop_duplicates("product_id").set_index("product_id")["product_name"]

    def buyers(product: str) -> set[str]:
        return set(lines.loc[lines["product_id"] == product, "customer_id"])

    pair = json.loads(ToolFunctions(AdvisorContext(sample_analysis)).bought_together())
    first, second = pair["pairs"][0]["product_a"], pair["pairs"][0]["product_b"]
    store = PlanStore(tmp_path)
    advisor = Advisor(AdvisorContext(sample_analysis, store=store, knowledge=playbook_kb),
                      OFFLINE)
    plan = advisor.ask(f"cross-sell {second} to buyers of {first}")
    payload = plan.tool_calls[0]["result"]
    assert set(store.plan_audience(payload["plan_id"]).index) == buyers(first) - buyers(second)
    assert payload["segment"] == f"Cross-sell {second} to buyers of {first}"
    assert payload["audience_definition"] == f"customers who bought {first} and not {second}"
    assert (payload["tactic"], payload["offer"]) == ("cross-sell", f"cross-sell offer on {second}")
    assert payload["suggest"] == {"product_id": second, "name": names[second]}
    assert names[second] in payload["subject"] and names[second] in payload["body"]
    assert "cross-sell-bundles.md" in {c["source"] for c in payload["citations"]}
    # the uplift it aims for: its customers' own segments' plays', on average
    chosen = customers.loc[customers.index.isin(buyers(first) - buyers(second))]
    uplift = chosen["rfm_segment"].astype(str).map(
        lambda s: DEFAULT_PLAYS[s].expected_uplift).mean()
    assert payload["target_retention"] - payload["baseline_retention"] == pytest.approx(
        uplift, abs=2e-3)
    # to a segment's customers who lack it, in German
    german = advisor.ask(f"Erstelle eine Cross-Selling-Kampagne für Champions, die {second} "
                         "noch nicht gekauft haben").tool_calls[0]["result"]
    champions = set(customers.index[customers["rfm_segment"] == "Champions"])
    assert set(store.plan_audience(german["plan_id"]).index) == champions - buyers(second)
    assert german["language"] == "de" and names[second] in german["subject"]
    with pytest.raises(ToolException, match=f"the product to cross-sell \\({first}\\) is the "
                                            "one the customers bought"):
        ToolFunctions(AdvisorContext(sample_analysis)).campaign_plan(
            product=first, suggest=first, save=False)


def test_a_country_keeps_lists_and_plans_to_its_customers(tmp_path, sample_analysis):
    from advisor.storage import PlanStore

    lines = sample_analysis.lines
    # each customer's country: the one of most of their lines
    main = (lines.groupby(["customer_id", "country"], observed=True).size()
            .sort_values(ascending=False, kind="stable").reset_index()
            .drop_duplicates("customer_id").set_index("customer_id")["country"].astype(str))
    german = set(main.index[main == "Germany"].astype(str))
    functions = ToolFunctions(AdvisorContext(sample_analysis))
    assert functions.in_country("Deutschland")[0] == "Germany"
    assert functions.in_country("UK")[0] == "United Kingdom"
    assert set(sample_analysis.customers.index[functions.in_country("german")[1]]) == german
    with pytest.raises(ToolException, match="no country 'Atlantis' in the data; the "
                                            "countries with the most customers: Germany"):
        functions.in_country("Atlantis")

    store = PlanStore(tmp_path)
    advisor = Advisor(AdvisorContext(sample_analysis, store=store), OFFLINE)
    listed = advisor.ask("which customers in Germany are at risk?").tool_calls[0]["result"]
    assert listed["country"] == "Germany"
    assert {row["customer_id"] for row in listed["customers"]} <= german
    plan = advisor.ask("Draft a win-back campaign for German customers")
    payload = plan.tool_calls[0]["result"]
    audience = store.plan_audience(payload["plan_id"])
    customers = sample_analysis.customers
    at_risk = set(customers.index[customers["rfm_segment"] == "At Risk"].astype(str))
    assert set(audience.index) == german & at_risk
    assert "I drafted a plan for **At Risk, Germany**" in plan.answer
    assert payload["audience_definition"].endswith("from Germany")
