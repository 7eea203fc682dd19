# Plaza — English texts. Every message a resident or a crew reads comes from here.

help = Hello, I am the assistant of { $town } town hall. Tell me what problem you have seen and where (for example: "the streetlight outside number 5 on Main Street is out") and I will pass it to the crew that fixes it. I will tell you of every step.
empty-message = I received no text. Tell me what problem you have seen and where.
too-long = Your message is too long ({ $length } characters; at most { $max }). Could you say it in a few lines?
ack-created = Thank you. Your report #{ $task } ({ $category }) is with the { $crew }. I will tell you of every step.
ack-duplicate = Thank you. We already had this report: #{ $original } ({ $category }, { $status }). I have joined yours (#{ $task }) to it and will tell you when it is fixed.
ack-triage = Thank you. The town hall will look at your report #{ $task } and send it to the right crew.
ask-category = I am not sure what kind of problem this is. Answer with a number:
ask-category-choice = { $n }. { $category }
ask-category-other = 0. Something else (the town hall will look at it)
ask-category-bad-choice = Answer with a number from 0 to { $max }, or write "cancel".
ask-location = Where exactly is it? Write the street and number, or share your location.
ask-problem-for-location = Thanks for the location. What is the problem there?
ask-problem-for-attachment = Thanks for the photo. What problem does it show, and where?
location-added = I have added the location to your report #{ $task }.
attachment-added = I have added the photo to your report #{ $task }.
dialogue-cancelled = All right, let's leave it. Write to me whenever you want to report something.
task-card =
    🆕 #{ $task } · { $category } · { $place }
    "{ $description }"
task-card-private =
    🔒 #{ $task } · { $category } (private) · { $place }
    "{ $description }"
task-card-actions = Answer "claim #{ $task }", "done #{ $task }" or "note #{ $task } text".
task-card-actions-buttons = Use the buttons, or reply to this card with a note for the resident.
task-card-actions-reactions = React 👀 to take it and ✅ when it is done; reply in the thread to leave the resident a note.
task-card-status = Status: { $status }
triage-card =
    ❓ #{ $task } not classified · { $place }
    "{ $description }"
    Assign with "assign #{ $task } CATEGORY" ({ $categories }) or "close #{ $task } spam".
public-post =
    📢 #{ $task } · { $category } · { $place }
    "{ $description }"
    Status: { $status } · 👍 { $metoo }{ $credit }
    { $how }
status-open = open
status-acknowledged = acknowledged
status-in_progress = in progress
status-resolved = resolved
status-closed = closed
close-unable = cannot be fixed
close-duplicate = duplicate
close-spam = not a valid report
close-other = closed by the crew
notify-acknowledged = 👀 The { $crew } have seen report #{ $task } ({ $category }).
notify-in-progress = 🔧 The { $crew } are working on report #{ $task } ({ $category }).
notify-resolved = ✅ Report #{ $task } ({ $category }) resolved in { $elapsed }. Thank you for reporting!
notify-closed = Report #{ $task } ({ $category }) was closed: { $reason }.
notify-reopened = Report #{ $task } ({ $category }) was reopened.
notify-note = 📝 The { $crew } about report #{ $task }: "{ $note }"
notify-assigned = Your report #{ $task } is about { $category }; the { $crew } have it.
notify-comment = 💬 A neighbour answers about your report #{ $task }: "{ $text }"
notify-me-too-thanks = Thank you. I have added your support to report #{ $task } and will tell you when it is fixed.
crew-confirm = #{ $task } → { $status } ({ $who })
crew-note-saved = Note saved on #{ $task } and sent to the resident.
crew-duplicate-linked = 📎 #{ $task } is the same problem as #{ $original } ({ $count } reports).
refuse-not-crew = Sorry, only the crew in charge of a report can change it. If you want to report a problem, tell me about it.
refuse-other-crew = Report #{ $task } belongs to the { $crew }; only that crew or the town hall can change it.
refuse-not-dispatcher = Only the town hall can do that.
unknown-task = There is no report #{ $task }.
unknown-command = I do not know that command. Commands: "claim #N", "done #N", "note #N text", "status #N", "help".
unknown-category = I do not know that category. Categories: { $categories }.
bad-transition = Report #{ $task } is already { $status }; that cannot be done now.
task-status = Report #{ $task } ({ $category }, { $place }): { $status }.
language-set = All right, I will write to you in English.
elapsed-minutes = { $minutes } min
elapsed-hours = { $hours } h{ $minutes ->
        [0] {""}
       *[other] {" "}{ $minutes } min
    }
elapsed-days = { $days } d{ $hours ->
        [0] {""}
       *[other] {" "}{ $hours } h
    }
elapsed-less-than-minute = less than a minute
button-claim = 🔧 Claim
button-done = ✅ Done
button-me-too = 👍 Me too
note-line = Note: "{ $note }"
ask-which-task = This message groups several reports: say which one you mean by its number, for example "#12".
button-note = 📝 Note
note-how = To leave the resident a note on #{ $task }, reply to the card with the text, or write "note #{ $task } text".

public-how-reply = Know something? Reply to this message. Affects you too? Reply "me too".
public-how-typed = Know something? Write "#{ $task } and your answer". Affects you too? Write "me too #{ $task }".
public-withdrawn = #{ $task } — report withdrawn from the public board by the town hall.


notify-now-private = Report #{ $task } is now handled privately by the town hall. Thank you for your support; you will get no more messages about it.
confirm-public = Report #{ $task } is in a private category ({ $category }). To publish it anyway write "public #{ $task } yes".
private-text = (private report)
dialogue-dropped = I have set your previous report aside; whenever you like, send it again with the place.
ask-location-again = And about your previous report ({ $category }): where exactly is it? Write the street and number, or share your location.
crew-possibly-related = 🔗 #{ $task } may be related to #{ $other } (same place). Each resident follows only their own report.
erase-confirm = Do you want us to delete your data? Your identity and what you wrote in your reports will be deleted; the reports stay, anonymous, for the town's statistics. Reply "yes" to delete them, or anything else to keep them.
erase-cancelled = All right, nothing was deleted.
erase-done = Done: your data has been deleted. If you write to us again, we start afresh.
data-export-header = This is all the data { $town } town hall keeps about you ({ $identity }):
data-export-language = Language: { $language }
data-export-task = Report #{ $task } ({ $date }, { $category }, { $status }): "{ $description }" · { $place }
data-export-following = You follow the reports: { $tasks }
data-export-event = { $date } · #{ $task } · { $what } { $text }
data-export-dialogue = Pending question about: "{ $text }"
data-export-nothing = We keep no reports or messages of yours.
data-export-footer = To delete your data write "delete my data".

thanks-reply = You're welcome! I'm here whenever you need me.
ok-reply = 👍
status-none-open = You have no open reports right now. If you see a problem, tell me.
not-a-report = I can only take reports of problems in the street (a streetlight, a pothole, rubbish…). For other questions, please call or visit { $town } town hall.
status-anything-else = For anything else, please call or visit { $town } town hall.
ask-location-vague = So that the crew can find it I need the street and number (for example "12 Church Street"), or your shared location.
location-updated = Corrected: your report #{ $task } is at { $place }.
crew-location-updated = 📍 the resident corrects the place: { $place }
detail-added = Thank you, I have added this to your report #{ $task } for the crew.
crew-detail = ➕ the resident adds: "{ $text }"
please-write = I cannot listen to voice messages or see stickers. Could you write it, please? For example: "the streetlight on Church Street 4 is out".

ask-location-offer = Is it at { $place }, like last time? Answer 1 (yes) or 2 (no, somewhere else).

too-many-reports = You have sent many reports in the last hour (at most { $max }). Please wait a little; the ones you sent are being handled.
flood-warning = ⚠ A resident went past { $max } reports in an hour ({ $tasks }); further ones are not taken for an hour.

refuse-reaction = Only the crew of report #{ $task } or the town hall can mark it; that reaction changes nothing.

# lost-and-found
lostfound-match = 🐾 Possible match: report #{ $other } ({ $kind }) looks like your report #{ $task }: "{ $description }". The town hall will put you in touch.
lostfound-kind-lost = lost animal
lostfound-kind-found = found animal
lostfound-crew = 🐾 #{ $task } and #{ $other } look like the same animal.
unreadable-message = I could not read your last message: it reached me encrypted with a key I don't have. Could you send it again?
unverified-staff = This message is in the name of a town crew member or dispatcher, but it could not be checked as really coming from them, so nothing was done. If it is yours, send it again from your usual account; if not, you can ignore this.

# The public web board
web-event-created = Report received
web-event-assigned = Assigned to { $value }
web-event-status = Status: { $value }
web-event-note = Note from the crew
web-event-comment = A neighbour answers
web-event-metoo = A neighbour is affected too
web-board-title = Town reports
web-filter-status = Status
web-filter-all = All
web-filter-open = Open
web-filter-closed = Resolved
web-filter-category = Kind
web-filter-apply = Show
web-col-category = Kind
web-col-place = Place
web-col-status = Status
web-col-age = Age
web-col-ack = Received in
web-col-resolved = Resolved in
web-empty = No reports to show.
web-prev = Newer
web-next = Older
web-not-found = That report does not exist or is not public.
web-bad-filter = That kind of report does not exist.
web-metoo = Neighbours affected
web-history = History
web-stats-title = Figures
web-stats-period = Last 30 days
web-stats-reports = reports
web-stats-per-day = Reports per day
web-stats-per-category = Reports by kind
web-stats-private = Private reports (counted only)
web-stats-triage = Not yet classified
web-stats-per-crew = How fast each crew answers
web-stats-crew = Crew
web-stats-satisfaction = What residents say of the fixes
web-stats-fixed = Marked fixed
web-stats-rating = Rating, 1 to 5 (answers)
web-stats-reopened = Reopened by the resident
web-stats-backlog = Open at the end of the day
web-stats-day = Day
web-chat-title = Report a problem
web-chat-hello = Hello! Tell us what is wrong and where (street and number), and you will get a report number. You can follow it here and on the public board.
web-chat-placeholder = Write your message
web-chat-send = Send
web-chat-where = 📍 Send my location
web-chat-mine = Your reports
web-chat-privacy = Your name and contact details are never shown in public. This browser remembers you with a cookie, nothing else.
web-chat-empty = Write a message first.
web-chat-too-long = That message is too long to send from here.
web-chat-bad-location = That location could not be read.
web-chat-busy = The town's service is starting or busy; please try again in a moment. Nothing was lost.
open311-private-notice = Received. This kind of report is handled in confidence: it has no public number and is not shown anywhere public.
web-filter-district = District
web-stats-per-day-average = reports a day (last 30 days)
web-stats-coordinated = tasks coordinated since the start
web-chat-too-many-new = Too many new conversations have started from your network in the last hour. Please try again later, or write to the town on its messenger.

# What the reporter says of a fix (issue 12)
confirm-ask = Is it fixed? Answer 1 (yes) or 2 (no), about report #{ $task }.
button-fixed = 1 ✅ Yes, fixed
button-not-fixed = 2 ❌ No
confirm-thanks-rate = Thank you for telling us. If you like, rate the work on #{ $task } from 1 to 5 (5 = very good).
rate-thanks = Thank you! Your rating helps the crews.
crew-not-fixed = ↩️ #{ $task } is not fixed, says the resident: "{ $text }"
crew-not-fixed-plain = ↩️ #{ $task } is not fixed, says the resident.
confirm-reopened = I have reopened report #{ $task } and told the { $crew }. Sorry it is not fixed yet.
confirm-closed-silent = I had no answer about report #{ $task }, so I have closed it as fixed. If the problem comes back, just tell me.
crew-thanks = 💐 The resident thanks you for #{ $task } ({ $category }).
public-credit = { $who ->
    [none] ✅ Fixed by the { $crew }
   *[other] ✅ Fixed by the { $crew } ({ $who })
}

# Plugin: deadlines
deadline-remind-ack = ⏰ #{ $task } ({ $category }) has waited { $waited } h and nobody has taken it yet; the town aims for { $hours } h.
deadline-remind-resolve = ⏰ #{ $task } ({ $category }) is still not fixed after { $waited } h; the town aims for { $hours } h.
deadline-escalate-ack = 🚨 #{ $task } ({ $category }) has waited { $waited } h without anyone taking it (aim: { $hours } h). Its crew was reminded.
deadline-escalate-resolve = 🚨 #{ $task } ({ $category }) is still not fixed after { $waited } h (aim: { $hours } h). Its crew was reminded.
deadline-late-ack = ⏳ Your report #{ $task } ({ $category }) is taking longer than it should: the town aims to have someone on it within { $hours } h. I have reminded the crew.
deadline-late-resolve = ⏳ Your report #{ $task } ({ $category }) is taking longer than it should: the town aims to fix it within { $hours } h. I have reminded the crew.
deadline-escalated = The town hall is now following report #{ $task } ({ $category }) itself, as it is late.

# Credit to crews
credit-on = Thank you, { $name }: the public board will name you when you fix something. Write "credit off" to stop it.
credit-off = Done: the public board will not name you, only your crew.
credit-how = Write your first name after "credit", e.g. "credit Luis", or "credit off".

# Districts
data-export-notices = You asked for the notices of: { $districts }
refuse-other-district = Report #{ $task } is in { $district }: only its ward officers or the town's dispatchers can do that.
district-none = no district

# Plugin: incidents
incident-opened = ⚠️ Incident #{ $task } is published and on the board { $until ->
    [none] until further notice
   *[other] until { $until }
}. Reports of the same problem there are joined to it; write "done #{ $task }" when it is over.
incident-known = ⚠️ We already know about this: "{ $notice }" (#{ $task }), { $until ->
    [none] until further notice
   *[other] expected until { $until }
}. I have noted you and will tell you when it is over.
incident-ended = ✅ Over: "{ $notice }" (#{ $task }). Thank you for your patience; if anything is still wrong, tell me.
incident-which-category = Which kind of problem is it? Name it in the announcement (categories: { $categories }).

# Plugin: the mayor's digest
digest-header = 🗞 Yesterday ({ $day }): { $reports ->
    [one] 1 report
   *[other] { $reports } reports
}, { $resolved } resolved, { $closed } closed. Open now: { $open }, of which { $late } late.
digest-crew = · { $crew }: taken in { $ack }, fixed in { $resolve } (medians)
digest-ratings = · Residents' ratings of yesterday's fixes: { $mean } out of 5 ({ $count })
digest-no-ratings = · No ratings of yesterday's fixes.

# Plugin: announcements
notice-public = 📣 From the town hall: { $text }
notice-public-district = 📣 { $district }: { $text }
notice-posted = Posted in the public room{ $count ->
    [0] .
    [one] , and sent to 1 resident who asked for notices.
   *[other] , and sent to { $count } residents who asked for notices.
}
notice-subscribed = I will send you the town hall's notices. Write "stop notices" to stop them.
notice-subscribed-district = I will send you the notices for { $district } (and the whole town's). Write "stop notices" to stop them.
notice-unsubscribed = { $count ->
    [0] You were not getting notices.
   *[other] Done: no more notices.
}
