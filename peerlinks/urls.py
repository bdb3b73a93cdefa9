from django.urls import path

from peerlinks import views

app_name = "peerlinks"
urlpatterns = [
    path("", views.home, name="home"),
]
