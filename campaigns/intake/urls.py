from django.urls import path

from campaigns.intake import views

app_name = "intake"

urlpatterns = [
    path("", views.questionnaire_list, name="list"),
    path("new/", views.questionnaire_create, name="create"),
    path("start/", views.start, name="start"),
    path("<int:questionnaire_id>/", views.questionnaire_detail, name="detail"),
    path("<int:questionnaire_id>/delete/", views.questionnaire_delete, name="delete"),
    path("<int:questionnaire_id>/questions/add/", views.question_add, name="question_add"),
    path("<int:questionnaire_id>/submissions/", views.submission_list, name="submissions"),
    path("<int:questionnaire_id>/export/", views.export, name="export"),
    path("<int:questionnaire_id>/results/", views.results, name="results"),
    path("<int:questionnaire_id>/poster/", views.poster_view, name="poster"),
    path("questions/<int:question_id>/edit/", views.question_edit, name="question_edit"),
    path("questions/<int:question_id>/delete/", views.question_delete, name="question_delete"),
    path("questions/<int:question_id>/move/", views.question_move, name="question_move"),
    path("submissions/<int:submission_id>/", views.submission_detail, name="submission"),
    path("submissions/<int:submission_id>/review/", views.submission_review, name="submission_review"),
    path("conflicts/<int:conflict_id>/resolve/", views.conflict_resolve, name="conflict_resolve"),
    path("photos/<int:photo_id>/", views.photo, name="photo"),
    path("sessions/<int:session_id>/take-over/", views.take_over, name="take_over"),
]
