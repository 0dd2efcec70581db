"""HubSpot's default properties of contacts, companies and deals, as compact data (names, types and
groups as HubSpot's own properties API and its default-properties documentation list them).

A block starts with ``[groupName]``; then one property a line: ``name [kind] [flag ...]``. Kinds:
``s`` string/text (the default), ``t`` string/textarea, ``p`` string/phonenumber, ``n`` number,
``dt`` datetime, ``d`` date, ``b`` bool/booleancheckbox, ``e:KEY`` enumeration/select with ``OPTIONS``,
``r:KEY`` enumeration/radio, ``c:KEY`` enumeration/checkbox. Flags: ``ro`` (read-only value), ``calc``
(calculated, read-only; its formula from ``FORMULAS``), ``stored`` (the generator fills it; others
answer null), ``label=Words_Like_This``. ``@stages KEY`` adds HubSpot's per-stage date-entered /
date-exited / time-in properties for the options of KEY.
"""

from __future__ import annotations

OPTIONS: dict[str, tuple[str, ...]] = {
    "lifecycle": (
        "subscriber",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "evangelist",
        "other",
    ),
    "lead_status": (
        "NEW",
        "OPEN",
        "IN_PROGRESS",
        "OPEN_DEAL",
        "UNQUALIFIED",
        "ATTEMPTED_TO_CONTACT",
        "CONNECTED",
        "BAD_TIMING",
    ),
    "source": (
        "ORGANIC_SEARCH",
        "PAID_SEARCH",
        "EMAIL_MARKETING",
        "SOCIAL_MEDIA",
        "REFERRALS",
        "OTHER_CAMPAIGNS",
        "DIRECT_TRAFFIC",
        "OFFLINE",
        "PAID_SOCIAL",
        "AI_REFERRALS",
    ),
    "deal_stage": (
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
    ),
    "pipeline": ("default",),
    "deal_type": ("newbusiness", "existingbusiness"),
    "priority": ("low", "medium", "high"),
    "forecast": ("OMIT", "PIPELINE", "BEST_CASE", "COMMIT", "CLOSED"),
    "company_type": ("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER"),
    "industry": (
        "ACCOUNTING",
        "COMPUTER_SOFTWARE",
        "FINANCIAL_SERVICES",
        "HOSPITAL_HEALTH_CARE",
        "INFORMATION_TECHNOLOGY_AND_SERVICES",
        "MANAGEMENT_CONSULTING",
        "MARKETING_AND_ADVERTISING",
        "RETAIL",
        "TELECOMMUNICATIONS",
        "TRANSPORTATION_TRUCKING_RAILROAD",
        "UTILITIES",
    ),
    "persona": ("persona_1", "persona_2", "persona_3"),
    "buying_role": (
        "BLOCKER",
        "BUDGET_HOLDER",
        "CHAMPION",
        "DECISION_MAKER",
        "END_USER",
        "EXECUTIVE_SPONSOR",
        "INFLUENCER",
        "LEGAL_AND_COMPLIANCE",
        "OTHER",
    ),
    "language": ("en", "de", "fr", "es", "nl", "pt-br", "it", "ja"),
    "gender": ("male", "female", "non_binary", "prefer_not_to_say"),
    "marital": ("single", "married", "divorced", "widowed"),
    "legal_basis": (
        "Legitimate interest – prospect/lead",
        "Legitimate interest - existing customer",
        "Performance of a contract",
        "Freely given consent from contact",
        "Not applicable",
    ),
    "object_source": (
        "ANALYTICS",
        "API",
        "CONTACTS_WEB",
        "CRM_UI",
        "FORM",
        "IMPORT",
        "INTEGRATION",
        "MOBILE_IOS",
        "SALESFORCE",
        "WORKFLOWS",
    ),
    "bounce": ("UNKNOWN", "MAILBOX_FULL", "CONTENT", "SPAM", "POLICY", "UNKNOWN_USER", "OTHER"),
    "employee_range": ("1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000", "10001+"),
    "marketable": ("true", "false"),
    "score_tier": ("tier_1", "tier_2", "tier_3", "tier_4", "closed_won"),
    "activity_type": ("CALL", "EMAIL", "MEETING", "TASK", "SALES_EMAIL_OPEN", "SALES_EMAIL_CLICK"),
}

FORMULAS: dict[str, str] = {
    "days_to_close": "time_between(createdate, closedate)",
    "hs_time_to_first_engagement": "time_between(createdate, hs_first_engagement_date)",
    "hs_closed_amount": "if is_present(hs_is_closed_won) and hs_is_closed_won then amount else 0",
    "hs_projected_amount": "amount * hs_deal_stage_probability",
    "hs_is_closed": "is_present(closedate) and dealstage in closed stages",
    "hs_open_amount_in_home_currency": "if not hs_is_closed then amount_in_home_currency else 0",
    "hs_calculated_phone_number": "formatted(phone)",
    "hs_email_domain": "domain(email)",
    "hs_full_name_or_email": "concat(firstname, ' ', lastname) or email",
    "hs_num_open_deals": "count(associated open deals)",
}

_OWNER = """
[contactinformation]
hubspot_owner_id e:owners stored label=Owner
hubspot_owner_assigneddate dt ro label=Owner_Assigned_Date
hubspot_team_id e:teams label=HubSpot_Team
hs_all_owner_ids c:owners ro label=All_owner_IDs
hs_all_team_ids c:teams ro label=All_team_IDs
hs_all_accessible_team_ids c:teams ro label=All_accessible_team_IDs
hs_user_ids_of_all_owners c:owners ro label=User_IDs_of_all_owners
hs_user_ids_of_all_notification_followers c:owners ro
hs_user_ids_of_all_notification_unfollowers c:owners ro
hs_shared_team_ids c:teams label=Shared_teams
hs_shared_user_ids c:owners label=Shared_users
"""

_SYSTEM = """
[contactinformation]
hs_object_id n ro stored label=Record_ID
createdate dt ro stored label=Create_Date
hs_lastmodifieddate dt ro stored label=Last_Modified_Date
hs_createdate dt ro label=HubSpot_Create_Date
hs_created_by_user_id n ro label=Created_by_user_ID
hs_updated_by_user_id n ro label=Updated_by_user_ID
hs_merged_object_ids c:none ro stored label=Merged_Record_IDs
hs_object_source e:object_source ro label=Record_source
hs_object_source_id s ro label=Record_source_detail_1
hs_object_source_label e:object_source ro label=Record_source
hs_object_source_detail_1 s ro
hs_object_source_detail_2 s ro
hs_object_source_detail_3 s ro
hs_object_source_user_id n ro
hs_unique_creation_key s ro
hs_was_imported b ro label=Imported
hs_read_only b ro
hs_pipeline e:pipeline ro label=Pipeline
hs_object_source_details s ro
hs_all_assigned_business_unit_ids c:none label=Brands
"""

_NOTES = """
[sales_properties]
notes_last_contacted dt ro label=Last_Contacted
notes_last_updated dt ro label=Last_Activity_Date
notes_next_activity_date dt ro label=Next_Activity_Date
num_contacted_notes n ro label=Number_of_times_contacted
num_notes n ro label=Number_of_Sales_Activities
hs_last_sales_activity_date dt ro
hs_last_sales_activity_timestamp dt ro
hs_last_sales_activity_type e:activity_type ro
hs_latest_meeting_activity dt ro
hs_last_logged_call_date dt ro
hs_last_booked_meeting_date dt ro
hs_last_open_task_date dt ro
hs_last_logged_outgoing_email_date dt ro
hs_sales_email_last_replied dt ro
hs_next_activity_type s ro
engagements_last_meeting_booked dt ro
engagements_last_meeting_booked_campaign s ro
engagements_last_meeting_booked_medium s ro
engagements_last_meeting_booked_source s ro
hs_time_to_first_engagement n calc
hs_first_engagement_object_id n ro
hs_first_engagement_date dt ro
hs_first_engagement_descr s ro
hs_first_engagement_type s ro
hs_last_engagement_date dt ro
"""

_ANALYTICS = """
[analyticsinformation]
hs_analytics_first_timestamp dt ro label=Time_first_seen
hs_analytics_first_touch_converting_campaign s ro
hs_analytics_first_visit_timestamp dt ro label=Time_of_first_session
hs_analytics_last_timestamp dt ro label=Time_last_seen
hs_analytics_last_touch_converting_campaign s ro
hs_analytics_last_visit_timestamp dt ro label=Time_of_last_session
hs_analytics_num_page_views n ro label=Number_of_Pageviews
hs_analytics_num_visits n ro label=Number_of_Sessions
hs_analytics_source e:source ro label=Original_Traffic_Source
hs_analytics_source_data_1 s ro label=Original_Traffic_Source_Drill-Down_1
hs_analytics_source_data_2 s ro label=Original_Traffic_Source_Drill-Down_2
hs_analytics_latest_source e:source ro label=Latest_Traffic_Source
hs_analytics_latest_source_data_1 s ro
hs_analytics_latest_source_data_2 s ro
hs_analytics_latest_source_timestamp dt ro
"""

_SALESFORCE = {
    "contacts": """
[salesforceinformation]
salesforcecontactid s stored label=Salesforce_Contact_ID
salesforceleadid s stored label=Salesforce_Lead_ID
salesforceaccountid s label=Salesforce_Account_ID
salesforcecampaignids c:none label=Salesforce_Campaign_IDs
salesforcedeleted b label=Salesforce_Deleted
salesforcelastsynctime dt ro label=Last_Salesforce_Sync_Time
salesforceopportunitystage s label=Salesforce_Opportunity_Stage
salesforceownerid s label=Salesforce_Owner_ID
salesforceowneremail s label=Salesforce_Owner_Email
salesforceownername s label=Salesforce_Owner_Name
hs_salesforceopportunitystage s
""",
    "companies": """
[salesforceinformation]
salesforceaccountid s stored label=Salesforce_Account_ID
salesforcedeleted b label=Salesforce_Deleted
salesforcelastsynctime dt ro label=Last_Salesforce_Sync_Time
salesforceownerid s label=Salesforce_Owner_ID
salesforceowneremail s
salesforceownername s
""",
    "deals": """
[salesforceinformation]
salesforceopportunityid s stored label=Salesforce_Opportunity_ID
salesforcedeleted b label=Salesforce_Deleted
salesforcelastsynctime dt ro label=Last_Salesforce_Sync_Time
salesforceownerid s label=Salesforce_Owner_ID
""",
}

CONTACTS = (
    _SYSTEM
    + _OWNER
    + """
[contactinformation]
lastmodifieddate dt ro stored label=Last_Modified_Date
email s stored
firstname s stored label=First_Name
lastname s stored label=Last_Name
salutation s
phone p stored label=Phone_Number
mobilephone p stored label=Mobile_Phone_Number
fax p label=Fax_Number
hs_whatsapp_phone_number p label=WhatsApp_Phone_Number
company s stored label=Company_Name
jobtitle s stored label=Job_Title
job_function s
seniority s
address s stored label=Street_Address
city s stored
state s stored label=State/Region
zip s stored label=Postal_Code
country s stored label=Country/Region
hs_country_region_code s
hs_state_code s
website s stored label=Website_URL
message t
date_of_birth s
degree s
field_of_study s
gender e:gender
graduation_date s
industry s
marital_status e:marital
military_status s
relationship_status s
school s
start_date s
work_email s
twitterhandle s label=Twitter_Username
annualrevenue s label=Annual_Revenue
numemployees s label=Number_of_Employees
company_size s
hs_language e:language label=Preferred_language
hs_timezone s label=Time_Zone
hs_persona e:persona label=Persona
hs_buying_role c:buying_role label=Buying_Role
hs_legal_basis c:legal_basis label=Legal_basis_for_processing_contact's_data
lifecyclestage r:lifecycle stored label=Lifecycle_Stage
hs_lead_status r:lead_status stored label=Lead_Status
associatedcompanyid n stored label=Primary_Associated_Company_ID
associatedcompanylastupdated n ro
owneremail s ro label=HubSpot_Owner_Email_(legacy)
ownername s ro label=HubSpot_Owner_Name_(legacy)
hs_additional_emails c:none ro stored label=Additional_email_addresses
hs_email_domain s calc label=Email_Domain
hs_full_name_or_email s calc
hs_calculated_merged_vids c:none ro
hs_is_contact b ro
hs_is_unworked b ro label=Contact_unworked
hs_count_is_unworked n ro
hs_count_is_worked n ro
hs_content_membership_notes t
hs_content_membership_status e:none
hs_content_membership_email s
hs_content_membership_email_confirmed b ro
hs_content_membership_registered_at dt ro
hs_content_membership_registration_domain_sent_to s ro
hs_content_membership_registration_email_sent_at dt ro
hs_content_membership_follow_up_enqueued_at dt ro
hs_membership_has_accessed_private_content n ro
hs_membership_last_private_content_access_date dt ro
hs_registration_method s ro
hs_registered_member n ro
hs_predictivecontactscore_v2 n ro label=Likelihood_to_close
hs_predictivescoringtier e:score_tier ro label=Contact_priority
hs_predictivecontactscorebucket e:none ro
hs_predictivecontactscore n ro
hs_lead_score n ro
hubspotscore n ro label=HubSpot_Score
hs_latest_disqualified_lead_date dt ro
hs_latest_open_lead_date dt ro
hs_latest_qualified_lead_date dt ro
hs_associated_target_accounts n ro
hs_prospecting_agent_actively_enrolled_count n ro
hs_quarantined_emails t ro
hs_source_object_id n ro
hs_source_portal_id n ro
hs_last_metered_enrichment_timestamp dt ro
hs_journey_stage e:lifecycle ro
hs_first_outreach_date dt ro
hs_first_subscription_create_date dt ro
hs_latest_subscription_create_date dt ro
hs_first_closed_order_id n ro
hs_first_order_closed_date dt ro
hs_recent_closed_order_date dt ro
hs_testpurge s ro
hs_testrollback s ro
[deal_information]
closedate dt label=Close_Date
first_deal_created_date dt ro
days_to_close n calc label=Days_To_Close
recent_deal_amount n ro
recent_deal_close_date dt ro
total_revenue n ro
num_associated_deals n ro label=Number_of_Associated_Deals
hs_num_open_deals n ro
[conversioninformation]
first_conversion_date dt ro label=First_Conversion_Date
first_conversion_event_name s ro
recent_conversion_date dt ro
recent_conversion_event_name s ro
num_conversion_events n ro label=Number_of_Form_Submissions
num_unique_conversion_events n ro
hs_calculated_form_submissions c:none ro
hs_first_conversion_date dt ro
hs_latest_source e:source ro label=Latest_Traffic_Source
hs_latest_source_data_1 s ro
hs_latest_source_data_2 s ro
hs_latest_source_timestamp dt ro
[analyticsinformation]
hs_analytics_average_page_views n ro
hs_analytics_first_referrer s ro
hs_analytics_first_url s ro
hs_analytics_last_referrer s ro
hs_analytics_last_url s ro
hs_analytics_num_event_completions n ro
hs_analytics_revenue n ro
hs_facebook_click_id s ro
hs_google_click_id s ro
hs_facebookid s ro
hs_linkedinid s ro
hs_googleplusid s ro
hs_twitterid s ro
hs_social_facebook_clicks n ro
hs_social_google_plus_clicks n ro
hs_social_linkedin_clicks n ro
hs_social_num_broadcast_clicks n ro
hs_social_twitter_clicks n ro
hs_social_last_engagement dt ro
hs_document_last_revisited dt ro
ip_city s ro label=IP_City
ip_country s ro label=IP_Country
ip_country_code s ro
ip_state s ro label=IP_State/Region
ip_state_code s ro
ip_zipcode s ro
hs_ip_timezone s ro
hs_calculated_phone_number s calc
hs_calculated_phone_number_area_code s ro
hs_calculated_phone_number_country_code s ro
hs_calculated_phone_number_region_code s ro
hs_calculated_mobile_number s ro
hs_searchable_calculated_phone_number s ro
hs_searchable_calculated_mobile_number s ro
hs_searchable_calculated_international_phone_number s ro
hs_searchable_calculated_international_mobile_number s ro
[emailinformation]
hs_email_bad_address b ro
hs_email_bounce n ro label=Marketing_emails_bounced
hs_email_click n ro label=Marketing_emails_clicked
hs_email_delivered n ro label=Marketing_emails_delivered
hs_email_open n ro label=Marketing_emails_opened
hs_email_replied n ro label=Marketing_emails_replied
hs_email_first_click_date dt ro
hs_email_first_open_date dt ro
hs_email_first_reply_date dt ro
hs_email_first_send_date dt ro
hs_email_last_click_date dt ro
hs_email_last_open_date dt ro
hs_email_last_reply_date dt ro
hs_email_last_send_date dt ro
hs_email_last_email_name s ro
hs_email_hard_bounce_reason t ro
hs_email_hard_bounce_reason_enum e:bounce ro
hs_email_optout b ro stored label=Unsubscribed_from_all_email
hs_email_quarantined b ro
hs_email_quarantined_reason e:none ro
hs_email_customer_quarantined_reason e:none ro
hs_email_is_ineligible b ro
hs_email_recipient_fatigue_recovery_time dt ro
hs_email_sends_since_last_engagement n ro
hs_emailconfirmationstatus e:none ro
hs_email_optout_survey_reason e:none ro
hs_sales_email_last_clicked dt ro
hs_sales_email_last_opened dt ro
hs_marketable_status e:marketable ro label=Marketing_contact_status
hs_marketable_reason_id s ro
hs_marketable_reason_type e:none ro
hs_marketable_until_renewal e:marketable ro
hs_email_optout_1 e:none ro label=Opted_out_of_email:_Marketing_Information
hs_email_optout_2 e:none ro label=Opted_out_of_email:_One_to_One
hs_email_optout_3 e:none ro label=Opted_out_of_email:_Customer_Service_Communication
hs_email_optout_4 e:none ro label=Opted_out_of_email:_Newsletter
[sales_properties]
hs_sequences_actively_enrolled_count n ro
hs_sequences_enrolled_count n ro
hs_sequences_is_enrolled b ro
hs_latest_sequence_enrolled n ro
hs_latest_sequence_enrolled_date dt ro
hs_latest_sequence_ended_date dt ro
hs_latest_sequence_finished_date dt ro
hs_latest_sequence_unenrolled_date dt ro
hs_last_sms_send_date dt ro
hs_last_sms_send_name s ro
hs_sms_first_click_date dt ro
hs_sms_last_click_date dt ro
hs_sms_first_delivered_date dt ro
hs_sms_last_delivered_date dt ro
hs_sms_first_sent_date dt ro
hs_sms_last_sent_date dt ro
hs_chat_last_visitor_message_date dt ro
hs_chat_first_agent_message_date dt ro
hs_chat_last_agent_message_date dt ro
hs_chat_conversation_count n ro
[contactinformation]
hs_avatar_filemanager_key s ro
hs_clicked_linkedin_ad e:none ro
hs_created_by_conversations b ro
hs_cross_sell_opportunity b ro
hs_currently_enrolled_in_prospecting_agent b ro
hs_data_privacy_ads_consent b
hs_enriched_email_bounce_detected b ro
hs_facebook_ad_clicked b ro
hs_linkedin_ad_clicked e:none ro
hs_linkedin_url s label=LinkedIn_URL
hs_has_active_subscription n ro
hs_inferred_language_codes e:language ro
hs_mobile_sdk_push_tokens t ro
hs_notes_last_activity s ro
hs_notes_next_activity s ro
hs_notes_next_activity_type e:activity_type ro
hs_owning_teams c:teams label=Owning_Teams
hs_pinned_engagement_id n ro
hs_prospecting_agent_last_enrolled dt ro
hs_prospecting_agent_total_enrolled_count n ro
hs_employment_change_detected_date dt ro
hs_job_change_detected_date dt ro
hs_manual_campaign_ids n ro
hs_contact_enrichment_opt_out b
hs_contact_enrichment_opt_out_timestamp dt ro
hs_customer_agent_lead_status e:none ro
hs_conversations_visitor_email s ro
hs_latest_createdate_of_active_subscriptions dt ro
hs_date_entered_current_stage dt ro
hs_v2_date_entered_current_stage dt ro
hs_v2_time_in_current_stage dt ro
hs_time_between_contact_creation_and_deal_close n ro
hs_time_between_contact_creation_and_deal_creation n ro
hs_time_to_move_from_lead_to_customer n ro
hs_time_to_move_from_marketingqualifiedlead_to_customer n ro
hs_time_to_move_from_opportunity_to_customer n ro
hs_time_to_move_from_salesqualifiedlead_to_customer n ro
hs_time_to_move_from_subscriber_to_customer n ro
currentlyinworkflow e:none ro label=Currently_in_workflow
followercount n ro
kloutscoregeneral n ro
linkedinconnections n ro
linkedinbio t ro
twitterbio t ro
twitterprofilephoto s ro
photo s ro
[feedbackinformation]
hs_feedback_last_ces_survey_date dt ro
hs_feedback_last_ces_survey_follow_up t ro
hs_feedback_last_ces_survey_rating e:none ro
hs_feedback_last_csat_survey_date dt ro
hs_feedback_last_csat_survey_follow_up t ro
hs_feedback_last_csat_survey_rating e:none ro
hs_feedback_last_nps_follow_up t ro
hs_feedback_last_nps_rating e:none ro
hs_feedback_last_survey_date dt ro
hs_feedback_show_nps_web_survey b ro
[emailinformation]
hs_email_optout_5 e:none ro label=Opted_out_of_email:_Product_Updates
hs_email_optout_6 e:none ro label=Opted_out_of_email:_Events
hs_email_optout_7 e:none ro label=Opted_out_of_email:_Webinars
hs_email_optout_8 e:none ro label=Opted_out_of_email:_Blog_Subscription
"""
    + _NOTES
    + _ANALYTICS
    + "@stages lifecycle\n"
)

COMPANIES = (
    _SYSTEM
    + _OWNER
    + """
[companyinformation]
name s stored
domain s stored label=Company_Domain_Name
website s stored label=Website_URL
phone p stored label=Phone_Number
address s stored label=Street_Address
address2 s label=Street_Address_2
city s stored
state s stored label=State/Region
zip s stored label=Postal_Code
country s stored label=Country/Region
hs_country_code s
hs_state_code s
industry s stored
hs_industry_group e:industry
numberofemployees n stored label=Number_of_Employees
hs_employee_range e:employee_range
annualrevenue n stored label=Annual_Revenue
hs_revenue_range e:none
hs_annual_revenue_currency_code e:none
lifecyclestage r:lifecycle stored label=Lifecycle_Stage
hs_lead_status r:lead_status
type r:company_type label=Type
description t
about_us t label=About_Us
founded_year s label=Year_Founded
is_public b label=Is_Public
timezone s label=Time_Zone
total_money_raised s
web_technologies c:none
hs_keywords c:none
hs_logo_url s
hs_avatar_filemanager_key s ro
twitterhandle s label=Twitter_Handle
twitterbio t
twitterfollowers n
facebook_company_page s
facebookfans n
linkedin_company_page s
linkedinbio t
googleplus_page s
closedate dt label=Close_Date
first_deal_created_date dt ro
days_to_close n calc
recent_deal_amount n ro
recent_deal_close_date dt ro
total_revenue n ro
first_contact_createdate dt ro
first_conversion_date dt ro
first_conversion_event_name s ro
recent_conversion_date dt ro
recent_conversion_event_name s ro
num_associated_contacts n ro label=Number_of_Associated_Contacts
num_associated_deals n ro label=Number_of_Associated_Deals
num_conversion_events n ro
hs_num_open_deals n calc
hs_num_child_companies n ro
hs_num_decision_makers n ro
hs_num_blockers n ro
hs_num_contacts_with_buying_roles n ro
hs_parent_company_id n label=Parent_Company
hs_ideal_customer_profile e:score_tier
hs_is_target_account b label=Target_Account
hs_target_account e:none
hs_target_account_probability n ro
hs_target_account_recommendation_state e:none ro
hs_target_account_recommendation_snooze_time dt ro
hs_predictivecontactscore_v2 n ro
hs_analytics_first_timestamp dt ro
hs_analytics_num_page_views n ro
hs_total_deal_value n ro
hs_last_metered_enrichment_timestamp dt ro
hs_source_object_id n ro
hs_quick_context s ro
hs_research_agent_status e:none ro
hs_industry_standard e:industry
hs_linkedin_handle s
hs_country_region_code s
hs_time_zone s
hs_is_enriched b ro
hs_created_by_user_id_label s ro
hs_analytics_first_touch_converting_campaign s ro
hs_analytics_last_touch_converting_campaign s ro
hs_analytics_first_visit_timestamp dt ro
hs_analytics_last_timestamp dt ro
hs_analytics_last_visit_timestamp dt ro
hs_analytics_num_visits n ro
hs_analytics_source e:source ro
hs_analytics_source_data_1 s ro
hs_analytics_source_data_2 s ro
hs_latest_createdate_of_active_subscriptions dt ro
hs_date_entered_current_stage dt ro
hs_v2_date_entered_current_stage dt ro
hs_v2_time_in_current_stage dt ro
hs_owning_teams c:teams
hs_pinned_engagement_id n ro
hs_notes_last_activity s ro
hs_notes_next_activity s ro
hs_notes_next_activity_type e:activity_type ro
hs_last_open_lead_date dt ro
hs_num_associated_contacts_with_lead_status n ro
hs_sales_email_last_clicked dt ro
hs_sales_email_last_opened dt ro
hs_task_label s ro
hs_updated_by_user_id_label s ro
hs_was_enriched b ro
hs_additional_domains c:none stored label=Additional_Domains
hs_user_ids_of_all_deal_owners c:owners ro
hs_customer_success_ticket_sentiment e:none ro
hs_lastmodifieddate_of_last_ticket dt ro
hs_num_open_tickets n ro
[salesforceinformation]
hs_salesforce_sync_status e:none ro
"""
    + _NOTES
    + _ANALYTICS
    + "@stages lifecycle\n"
)

DEALS = (
    _SYSTEM
    + _OWNER
    + """
[dealinformation]
dealname s stored label=Deal_Name
amount n stored
amount_in_home_currency n ro label=Amount_in_company_currency
closedate dt stored label=Close_Date
dealstage r:deal_stage stored label=Deal_Stage
pipeline e:pipeline stored
dealtype r:deal_type stored label=Deal_Type
description t label=Deal_Description
closed_lost_reason t
closed_won_reason t
days_to_close n calc
hs_deal_stage_probability n stored label=Deal_probability
hs_deal_stage_probability_shadow n ro
hs_forecast_amount n ro
hs_forecast_category e:forecast
hs_forecast_probability n
hs_manual_forecast_category e:forecast
hs_projected_amount n calc label=Weighted_amount
hs_projected_amount_in_home_currency n ro
hs_closed_amount n calc
hs_closed_amount_in_home_currency n ro
hs_open_amount_in_home_currency n calc
hs_is_closed b calc
hs_is_closed_won b ro
hs_is_closed_lost b ro
hs_is_open_count n ro
hs_is_closed_count n ro
hs_closed_won_count n ro
hs_closed_won_date dt ro
hs_days_to_close_raw n ro
hs_duration n ro
hs_acv n ro label=Annual_contract_value
hs_arr n ro label=Annual_recurring_revenue
hs_mrr n ro label=Monthly_recurring_revenue
hs_tcv n ro label=Total_contract_value
hs_exchange_rate n ro
hs_deal_amount_calculation_preference e:none
hs_next_step t label=Next_step
hs_priority e:priority label=Priority
hs_likelihood_to_close n ro
hs_predicted_amount n ro
hs_predicted_amount_in_home_currency n ro
hs_campaign s label=HubSpot_Campaign
hs_line_item_global_term_hs_discount_percentage s
hs_line_item_global_term_hs_discount_percentage_enabled b
hs_line_item_global_term_hs_recurring_billing_period s
hs_line_item_global_term_hs_recurring_billing_period_enabled b
hs_line_item_global_term_hs_recurring_billing_start_date d
hs_line_item_global_term_hs_recurring_billing_start_date_enabled b
hs_line_item_global_term_recurringbillingfrequency s
hs_line_item_global_term_recurringbillingfrequency_enabled b
hs_num_associated_deal_splits n ro
hs_num_of_associated_line_items n ro
hs_num_target_accounts n ro
hs_num_associated_active_deal_registrations n ro
hs_num_associated_deal_registrations n ro
num_associated_contacts n ro label=Number_of_Associated_Contacts
num_targeted_contacts n ro
hs_has_empty_conditional_stage_properties b ro
hs_deal_registration_mrr n ro
hs_deal_registration_mrr_currency_code e:none ro
hs_deal_split_users c:owners ro
hs_primary_associated_company n ro
hs_associated_deal_registration_product_interests c:none ro
hs_latest_approval_status e:none ro
hs_latest_approval_status_approval_id n ro
hs_is_active_shared_deal b ro
hs_is_deal_split b ro
hs_is_stalled b ro
hs_is_stalled_after_timestamp dt ro
hs_synced_deal_owner_name_and_email s ro
hs_tag_ids c:none
hs_v2_date_entered_current_stage dt ro
hs_v2_time_in_current_stage dt ro
hs_date_entered_current_stage dt ro
hs_time_in_current_stage n ro
"""
    + _NOTES
    + _ANALYTICS
    + "@stages deal_stage\n"
)

# A few properties an admin of this portal made (hubspotDefined false).
CUSTOM = {
    "contacts": "[contactinformation]\ncustomer_tier e:tier\npreferred_contact_method e:contact_method\n",
    "companies": "[companyinformation]\naccount_region e:region\nerp_customer_number s\n",
    "deals": "[dealinformation]\ncontract_term_months n\nrenewal_date d\n",
}
OPTIONS.update(
    owners=(),
    teams=(),
    none=(),
    tier=("gold", "silver", "bronze"),
    contact_method=("email", "phone", "sms"),
    region=("amer", "emea", "apac"),
)

# A custom object type (issue 26), as POST /crm/v3/schemas makes one: HubSpot gives it its system
# properties (hs_object_id, hs_createdate, hs_lastmodifieddate, owner...); the admin's own come after.
SUBSCRIPTIONS = """
[subscription_information]
hs_object_id n ro stored label=Record_ID
hs_createdate dt ro stored label=Object_create_date/time
hs_lastmodifieddate dt ro stored label=Object_last_modified_date/time
hs_created_by_user_id n ro label=Created_by_user_ID
hs_updated_by_user_id n ro label=Updated_by_user_ID
hs_merged_object_ids c:none ro label=Merged_Record_IDs
hs_object_source e:object_source ro label=Record_source
hs_was_imported b ro label=Imported
hs_pipeline e:pipeline ro label=Pipeline
hubspot_owner_id e:owners stored label=Owner
hs_all_owner_ids c:owners ro label=All_owner_IDs
"""
CUSTOM["p_subscriptions"] = """
[subscription_information]
subscription_name s stored label=Subscription_name
status e:subscription_status stored label=Status
plan e:subscription_plan stored label=Plan
mrr n stored label=MRR
seats n stored label=Seats
start_date d stored label=Start_date
end_date d stored label=End_date
"""
OPTIONS.update(
    subscription_status=("active", "trial", "past_due", "cancelled"),
    subscription_plan=("starter", "professional", "enterprise"),
)

# Tickets (object type 0-5), HubSpot's default ticket properties (its properties API for tickets); the
# default pipeline is "0" with the statuses 1 New, 2 Waiting on contact, 3 Waiting on us, 4 Closed.
TICKETS = """
[ticketinformation]
hs_object_id n ro stored label=Record_ID
hs_ticket_id n ro label=Ticket_ID
subject s stored label=Ticket_name
content t label=Ticket_description
hs_pipeline e:ticket_pipeline stored label=Pipeline
hs_pipeline_stage e:ticket_stage stored label=Ticket_status
hs_ticket_priority e:ticket_priority stored label=Priority
hs_ticket_category c:ticket_category label=Category
source_type e:ticket_source stored label=Source
hs_resolution e:ticket_resolution label=Resolution
createdate dt ro stored label=Create_date
hs_lastmodifieddate dt ro stored label=Last_modified_date
closed_date dt stored label=Close_date
hubspot_owner_id e:owners stored label=Ticket_owner
hubspot_owner_assigneddate dt ro label=Owner_assigned_date
hubspot_team_id e:teams label=HubSpot_team
hs_all_owner_ids c:owners ro label=All_owner_IDs
hs_created_by_user_id n ro label=Created_by_user_ID
hs_updated_by_user_id n ro label=Updated_by_user_ID
hs_merged_object_ids c:none ro stored label=Merged_ticket_IDs
hs_object_source e:object_source ro label=Record_source
hs_was_imported b ro label=Imported
hs_lastactivitydate dt ro label=Last_activity_date
last_engagement_date dt ro label=Last_contacted
last_reply_date dt ro label=Last_response_date
first_agent_reply_date dt ro label=First_agent_email_response_date
time_to_close n ro label=Time_to_close
time_to_first_agent_reply n ro label=Time_to_first_agent_email_reply
hs_date_entered_1 dt ro label=Date_entered_'New'
hs_date_entered_4 dt ro label=Date_entered_'Closed'
hs_num_associated_companies n ro label=Number_of_associated_companies
hs_num_times_contacted n ro label=Number_of_times_contacted
hs_tag_ids c:none label=Ticket_tags
"""
OPTIONS.update(
    ticket_pipeline=("0",),
    ticket_stage=("1", "2", "3", "4"),
    ticket_priority=("LOW", "MEDIUM", "HIGH", "URGENT"),
    ticket_category=("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY"),
    ticket_source=("EMAIL", "CHAT", "FORM", "PHONE"),
    ticket_resolution=("ISSUE_FIXED", "NO_ACTION_NEEDED", "CUSTOMER_EDUCATED", "OTHER"),
)
CUSTOM["tickets"] = ""
# Engagements (activities): tasks (0-27) and calls (0-48), as their properties APIs list them. Like a
# custom object type they keep hs_createdate; hs_timestamp is a task's due date and a call's time.
_ENGAGEMENT = """
hs_object_id n ro stored label=Record_ID
hs_createdate dt ro stored label=Create_date
hs_lastmodifieddate dt ro stored label=Last_modified_date
hs_timestamp dt stored label=Activity_date
hubspot_owner_id e:owners stored label=Activity_assigned_to
hs_created_by_user_id n ro label=Created_by_user_ID
hs_modified_by n ro label=Modified_by
hs_body_preview t ro label=Body_preview
hs_all_owner_ids c:owners ro label=All_owner_IDs
hs_merged_object_ids c:none ro label=Merged_Record_IDs
"""
TASKS = (
    "[task]\n"
    + _ENGAGEMENT
    + """
hs_task_subject s stored label=Task_title
hs_task_body t label=Notes
hs_task_status e:task_status stored label=Task_status
hs_task_priority e:task_priority stored label=Priority
hs_task_type e:task_type stored label=Task_type
hs_task_completion_date dt ro label=Completed_at
hs_task_is_overdue b ro label=Is_overdue
hs_task_reminders s label=Reminder
"""
)
CALLS = (
    "[call]\n"
    + _ENGAGEMENT
    + """
hs_call_title s stored label=Call_title
hs_call_body t label=Call_notes
hs_call_status e:call_status stored label=Call_status
hs_call_direction e:call_direction stored label=Call_direction
hs_call_duration n stored label=Call_duration
hs_call_disposition s label=Call_outcome
hs_call_from_number p label=From_number
hs_call_to_number p label=To_number
hs_call_recording_url s label=Recording_URL
"""
)
# Logged e-mails (0-49), meetings (0-47) and notes (0-46). An e-mail's hs_timestamp is when it was sent
# or received, a meeting's when it was booked for (its start), a note's when it was written.
EMAILS = (
    "[email]\n"
    + _ENGAGEMENT
    + """
hs_email_subject s stored label=Email_subject
hs_email_text t label=Email_body
hs_email_html t label=Email_HTML_body
hs_email_direction e:email_direction stored label=Email_direction
hs_email_status e:email_status stored label=Email_send_status
hs_email_headers t label=Email_headers
hs_email_sender_email s label=Sender_email
hs_email_to_email s label=Recipient_email
hs_email_thread_id s ro label=Thread_ID
hs_attachment_ids c:none label=Attached_file_IDs
"""
)
MEETINGS = (
    "[meeting]\n"
    + _ENGAGEMENT
    + """
hs_meeting_title s stored label=Meeting_name
hs_meeting_body t label=Meeting_description
hs_internal_meeting_notes t label=Internal_meeting_notes
hs_meeting_external_url s label=External_URL
hs_meeting_location s stored label=Location
hs_meeting_start_time dt stored label=Start_time
hs_meeting_end_time dt stored label=End_time
hs_meeting_outcome e:meeting_outcome stored label=Meeting_outcome
hs_activity_type s label=Call_and_meeting_type
hs_attachment_ids c:none label=Attached_file_IDs
"""
)
NOTES = (
    "[note]\n"
    + _ENGAGEMENT
    + """
hs_note_body t stored label=Note_body
hs_attachment_ids c:none label=Attached_file_IDs
"""
)
CUSTOM.update(tasks="", calls="", emails="", meetings="", notes="")
OPTIONS.update(
    task_status=("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
    task_priority=("NONE", "LOW", "MEDIUM", "HIGH"),
    task_type=("TODO", "CALL", "EMAIL"),
    call_status=("BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING", "FAILED", "IN_PROGRESS"),
    call_direction=("INBOUND", "OUTBOUND"),
    email_direction=("EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"),
    email_status=("BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"),
    meeting_outcome=("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"),
)

# The product library (products, 0-7) and line items (0-8), as their properties APIs list them (a recorded
# batch read of line items: shared/fixtures/recorded/hubspot). A line item is a product sold on a deal:
# hs_product_id names the library product it was made from (none for a one-off line); price is its unit
# price, discount an amount off each unit and amount HubSpot's own calculation, quantity x price less the
# discount. Deals' amounts are their own property: nothing keeps them to the sum of the line items.
PRODUCTS = """
[productinformation]
hs_object_id n ro stored label=Record_ID
name s stored label=Name
description t label=Description
hs_sku s stored label=SKU
price n stored label=Unit_price
hs_cost_of_goods_sold n label=Unit_cost
hs_product_type e:product_type stored label=Product_type
hs_recurring_billing_period s label=Term
hs_url s label=URL
createdate dt ro stored label=Create_date
hs_lastmodifieddate dt ro stored label=Last_modified_date
hubspot_owner_id e:owners label=Owner
hs_folder_id n label=Folder
hs_merged_object_ids c:none ro label=Merged_product_IDs
hs_created_by_user_id n ro label=Created_by_user_ID
"""
LINE_ITEMS = """
[lineiteminformation]
hs_object_id n ro stored label=Record_ID
name s stored label=Name
description t label=Description
hs_product_id n stored label=Product_ID
hs_sku s stored label=SKU
quantity n stored label=Quantity
price n stored label=Unit_price
discount n stored label=Unit_discount
hs_discount_percentage n label=Unit_discount_percentage
amount n ro stored label=Net_price
hs_pre_discount_amount n ro label=Pre-discount_amount
hs_cost_of_goods_sold n label=Unit_cost
hs_margin n ro label=Margin
hs_tcv n ro label=Total_contract_value
hs_acv n ro label=Annual_contract_value
hs_arr n ro label=Annual_recurring_revenue
hs_mrr n ro label=Monthly_recurring_revenue
hs_product_type e:product_type label=Product_type
hs_position_on_quote n label=Position_on_quote
hs_recurring_billing_period s label=Term
hs_line_item_currency_code e:line_item_currency label=Currency
createdate dt ro stored label=Create_date
hs_lastmodifieddate dt ro stored label=Last_modified_date
hs_created_by_user_id n ro label=Created_by_user_ID
hs_merged_object_ids c:none ro label=Merged_line_item_IDs
"""
# Quotes (0-14): a deal's priced offer, with its own title, status and expiration; hs_quote_amount is
# HubSpot's sum of the quote's line items.
QUOTES = """
[quoteinformation]
hs_object_id n ro stored label=Record_ID
hs_title s stored label=Quote_name
hs_status e:quote_status stored label=Quote_approval_status
hs_expiration_date d stored label=Quote_expiration_date
hs_quote_amount n ro stored label=Quote_amount
hs_quote_number s ro stored label=Quote_number
hs_currency e:line_item_currency label=Currency
hs_sign_status e:quote_sign_status stored label=Quote_signature_status
hs_esign_enabled b label=Enable_e-signature
hs_terms t label=Terms
hs_comments t label=Comments
hs_language s label=Language
hs_domain s ro label=Domain
hs_public_url_key s ro label=Public_URL_key
hs_createdate dt ro stored label=Create_date
hs_lastmodifieddate dt ro stored label=Last_modified_date
hubspot_owner_id e:owners stored label=Quote_owner
hs_created_by_user_id n ro label=Created_by_user_ID
hs_merged_object_ids c:none ro label=Merged_quote_IDs
"""
CUSTOM.update(products="", line_items="", quotes="")
OPTIONS.update(
    quote_status=("DRAFT", "APPROVAL_NOT_NEEDED", "PENDING_APPROVAL", "APPROVED", "REJECTED"),
    quote_sign_status=("NOT_SIGNED", "PENDING", "SIGNED"),
)
OPTIONS.update(
    product_type=("inventory", "non_inventory", "service"), line_item_currency=("USD", "EUR", "GBP")
)

TEXT = {
    "contacts": CONTACTS,
    "companies": COMPANIES,
    "deals": DEALS,
    "tickets": TICKETS,
    "p_subscriptions": SUBSCRIPTIONS,
    "tasks": TASKS,
    "calls": CALLS,
    "emails": EMAILS,
    "meetings": MEETINGS,
    "notes": NOTES,
    "products": PRODUCTS,
    "line_items": LINE_ITEMS,
    "quotes": QUOTES,
}
# the custom object types' schemas (GET /crm/v3/schemas): name -> (singular, plural, primary display)
CUSTOM_OBJECTS = {"p_subscriptions": ("Subscription", "Subscriptions", "subscription_name")}
