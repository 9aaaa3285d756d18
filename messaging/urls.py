"""Staff-facing messaging pages (mounted at "" with namespace "messaging").

Provider webhooks are mounted separately (messaging/webhooks.py): they are not staff pages.
"""

from django.urls import path

from messaging.views import api, channels, inbox, simulator

app_name = "messaging"
urlpatterns = [
    path("inbox/", inbox.inbox, name="inbox"),
    path("inbox/updates/", api.inbox_list, name="inbox_updates"),
    path("inbox/canned/", inbox.canned_responses, name="canned_responses"),
    path("inbox/canned/<int:canned_id>/", inbox.canned_response_edit, name="canned_response_edit"),
    path("inbox/canned/<int:canned_id>/delete/", inbox.canned_response_delete, name="canned_response_delete"),
    path("inbox/<int:conversation_id>/", inbox.conversation_detail, name="thread"),
    path("inbox/<int:conversation_id>/updates/", api.thread_updates, name="thread_updates"),
    path("inbox/<int:conversation_id>/reply/", inbox.reply, name="reply"),
    path("inbox/<int:conversation_id>/template/", inbox.send_template, name="send_template"),
    path("inbox/<int:conversation_id>/assign/", inbox.assign, name="assign"),
    path("inbox/<int:conversation_id>/messages/<int:message_id>/settle/", inbox.settle_unknown,
         name="settle_unknown"),
    path("inbox/<int:conversation_id>/close/", inbox.close, name="close"),
    path("inbox/<int:conversation_id>/reopen/", inbox.reopen, name="reopen"),
    path("simulator/", simulator.simulator, name="simulator"),
    path("simulator/select/", simulator.simulator_select, name="simulator_select"),
    path("simulator/send/", simulator.simulator_send, name="simulator_send"),
    path("simulator/status/", simulator.simulator_status, name="simulator_status"),
    path("simulator/updates/", api.simulator_updates, name="simulator_updates"),
    path("channels/", channels.channel_list, name="channels"),
    path("channels/settings/", channels.messaging_settings, name="messaging_settings"),
    path("channels/new/<str:provider>/", channels.channel_create, name="channel_create"),
    path("channels/<int:channel_id>/", channels.channel_detail, name="channel_detail"),
    path("channels/<int:channel_id>/edit/", channels.channel_edit, name="channel_edit"),
    path("channels/<int:channel_id>/test/", channels.channel_test_message, name="channel_test"),
    path("channels/<int:channel_id>/rotate-secret/", channels.channel_rotate_secret,
         name="channel_rotate_secret"),
    path("channels/<int:channel_id>/switch-off/", channels.channel_switch_off, name="channel_switch_off"),
]
