# Plaza — النصوص بالعربية. كل رسالة يقرؤها المواطن أو الفريق تأتي من هنا.
# Arabic texts. Added as a file, with no code change; the town's config names "ar".

help = مرحباً، أنا مساعد بلدية { $town }. أخبرني ما المشكلة التي رأيتها وأين (مثلاً: «مصباح الشارع في الشارع الرئيسي رقم 5 مطفأ») وسأوصلها إلى الفريق الذي يصلحها. سأخبرك بكل خطوة.
empty-message = لم يصلني أي نص. أخبرني ما المشكلة التي رأيتها وأين.
too-long = رسالتك طويلة جداً ({ $length } حرفاً؛ الحد الأقصى { $max }). هل يمكنك اختصارها في بضعة أسطر؟
ack-created = شكراً. بلاغك رقم #{ $task } ({ $category }) الآن لدى { $crew }. سأخبرك بكل خطوة.
ack-duplicate = شكراً. لدينا هذا البلاغ من قبل: #{ $original } ({ $category }، { $status }). ضممت بلاغك (#{ $task }) إليه وسأخبرك عند إصلاحه.
ack-triage = شكراً. ستراجع البلدية بلاغك رقم #{ $task } وترسله إلى الفريق المناسب.
ask-category = لست متأكداً من نوع المشكلة. أجب برقم:
ask-category-choice = { $n }. { $category }
ask-category-other = 0. شيء آخر (ستراجعه البلدية)
ask-category-bad-choice = أجب برقم من 0 إلى { $max }، أو اكتب «إلغاء».
ask-location = أين يقع بالضبط؟ اكتب اسم الشارع والرقم، أو شارك موقعك.
ask-problem-for-location = شكراً على الموقع. ما المشكلة هناك؟
ask-problem-for-attachment = شكراً على الصورة. ما المشكلة التي تظهرها، وأين؟
location-added = أضفت الموقع إلى بلاغك رقم #{ $task }.
attachment-added = أضفت الصورة إلى بلاغك رقم #{ $task }.
dialogue-cancelled = حسناً، لنترك الأمر. اكتب لي متى أردت الإبلاغ عن شيء.
task-card =
    🆕 #{ $task } · { $category } · { $place }
    «{ $description }»
task-card-private =
    🔒 #{ $task } · { $category } (خاص) · { $place }
    «{ $description }»
task-card-actions = أجب «tomo #{ $task }» أو «hecho #{ $task }» أو «nota #{ $task } نص».
task-card-actions-buttons = استخدم الأزرار، أو رد على هذه البطاقة بملاحظة للساكن.
task-card-actions-reactions = تفاعل بـ 👀 لتتولاه و✅ عند الانتهاء؛ رد في السلسلة لترك ملاحظة للساكن.
task-card-status = الحالة: { $status }
triage-card =
    ❓ #{ $task } غير مصنف · { $place }
    «{ $description }»
    عيّن الفئة بـ «asignar #{ $task } الفئة» ({ $categories }) أو «cerrar #{ $task } spam».
public-post =
    📢 #{ $task } · { $category } · { $place }
    «{ $description }»
    الحالة: { $status } · 👍 { $metoo }{ $credit }
    { $how }
status-open = مفتوح
status-acknowledged = تم الاستلام
status-in_progress = قيد العمل
status-resolved = تم الإصلاح
status-closed = مغلق
close-unable = لا يمكن إصلاحه
close-duplicate = مكرر
close-spam = بلاغ غير صالح
close-other = أغلقه الفريق
notify-acknowledged = 👀 اطّلع { $crew } على البلاغ رقم #{ $task } ({ $category }).
notify-in-progress = 🔧 يعمل { $crew } على البلاغ رقم #{ $task } ({ $category }).
notify-resolved = ✅ تم إصلاح البلاغ رقم #{ $task } ({ $category }) في { $elapsed }. شكراً على الإبلاغ!
notify-closed = أُغلق البلاغ رقم #{ $task } ({ $category }): { $reason }.
notify-reopened = أُعيد فتح البلاغ رقم #{ $task } ({ $category }).
notify-note = 📝 { $crew } بخصوص البلاغ رقم #{ $task }: «{ $note }»
notify-assigned = بلاغك رقم #{ $task } من فئة { $category }؛ يتولاه { $crew }.
notify-comment = 💬 يرد أحد الجيران على بلاغك رقم #{ $task }: «{ $text }»
notify-me-too-thanks = شكراً. أضفت دعمك إلى البلاغ رقم #{ $task } وسأخبرك عند إصلاحه.
crew-confirm = #{ $task } → { $status } ({ $who })
crew-note-saved = حُفظت الملاحظة في #{ $task } وأُرسلت إلى المواطن.
crew-duplicate-linked = 📎 #{ $task } هو نفس مشكلة #{ $original } ({ $count } بلاغات).
refuse-not-crew = عذراً، وحده الفريق المسؤول عن البلاغ يمكنه تغييره. إذا أردت الإبلاغ عن مشكلة، أخبرني بها.
refuse-other-crew = البلاغ رقم #{ $task } من اختصاص { $crew }؛ وحده ذلك الفريق أو البلدية يمكنه تغييره.
refuse-not-dispatcher = وحدها البلدية يمكنها فعل ذلك.
unknown-task = لا يوجد بلاغ رقم #{ $task }.
unknown-command = لا أعرف هذا الأمر. الأوامر: «estado #N»، «ayuda».
unknown-category = لا أعرف هذه الفئة. الفئات: { $categories }.
bad-transition = البلاغ رقم #{ $task } حالته الآن { $status }؛ لا يمكن فعل ذلك الآن.
task-status = البلاغ رقم #{ $task } ({ $category }، { $place }): { $status }.
language-set = حسناً، سأكتب لك بالعربية.
elapsed-minutes = { $minutes } دقيقة
elapsed-hours = { $hours } ساعة{ $minutes ->
        [0] {""}
       *[other] {" "}{ $minutes } دقيقة
    }
elapsed-days = { $days } يوم{ $hours ->
        [0] {""}
       *[other] {" "}{ $hours } ساعة
    }
elapsed-less-than-minute = أقل من دقيقة
button-claim = 🔧 أتولاه
button-done = ✅ تم
button-me-too = 👍 أنا أيضاً
note-line = ملاحظة: «{ $note }»
ask-which-task = تجمع هذه الرسالة عدة بلاغات: قل أيها تقصد برقمه، مثلاً «#12».
button-note = 📝 ملاحظة
note-how = لترك ملاحظة للمواطن في #{ $task }، رد على البطاقة بالنص، أو اكتب «nota #{ $task } نص».
public-how-reply = هل تعرف شيئاً؟ رد على هذه الرسالة. هل يؤثر عليك؟ رد «أنا أيضاً».
public-how-typed = هل تعرف شيئاً؟ اكتب «#{ $task } وجوابك». هل يؤثر عليك؟ اكتب «أنا أيضاً #{ $task }».
public-withdrawn = #{ $task } — سحبت البلدية هذا البلاغ من اللوحة العامة.
notify-now-private = البلاغ رقم #{ $task } تتولاه البلدية الآن بشكل خاص. شكراً على دعمك؛ لن تصلك رسائل أخرى عنه.
confirm-public = البلاغ رقم #{ $task } من فئة خاصة ({ $category }). لنشره رغم ذلك اكتب «publico #{ $task } نعم».
private-text = (بلاغ خاص)
dialogue-dropped = وضعت بلاغك السابق جانباً؛ أرسله مرة أخرى مع المكان متى شئت.
ask-location-again = وبخصوص بلاغك السابق ({ $category }): أين يقع بالضبط؟ اكتب اسم الشارع والرقم، أو شارك موقعك.
crew-possibly-related = 🔗 قد يكون #{ $task } مرتبطاً بـ #{ $other } (نفس المكان). كل مواطن يتابع بلاغه فقط.
erase-confirm = هل تريد أن نحذف بياناتك؟ ستُحذف هويتك وما كتبته في بلاغاتك؛ تبقى البلاغات، دون اسم، لإحصاءات البلدة. أجب «نعم» لحذفها، أو أي شيء آخر لإبقائها.
erase-cancelled = حسناً، لم أحذف شيئاً.
erase-done = تم: حذفنا بياناتك. إذا كتبت لنا مرة أخرى، نبدأ من جديد.
data-export-header = هذه كل البيانات التي تحتفظ بها بلدية { $town } عنك ({ $identity }):
data-export-language = اللغة: { $language }
data-export-task = البلاغ رقم #{ $task } ({ $date }، { $category }، { $status }): «{ $description }» · { $place }
data-export-following = تتابع البلاغات: { $tasks }
data-export-event = { $date } · #{ $task } · { $what } { $text }
data-export-dialogue = سؤال معلق حول: «{ $text }»
data-export-nothing = لا نحتفظ بأي بلاغ أو رسالة منك.
data-export-footer = لحذف بياناتك اكتب «احذف بياناتي».
thanks-reply = العفو! أنا هنا متى احتجت.
ok-reply = 👍
status-none-open = ليس لديك أي بلاغ مفتوح الآن. إذا رأيت مشكلة، أخبرني.
not-a-report = يمكنني فقط استقبال بلاغات عن مشاكل في الشارع (مصباح، حفرة، قمامة…). للأسئلة الأخرى، اتصل ببلدية { $town } أو زرها.
status-anything-else = لأي أمر آخر، اتصل ببلدية { $town } أو زرها.
ask-location-vague = لكي يجده الفريق أحتاج اسم الشارع والرقم، أو أن تشارك موقعك.
location-updated = تم التصحيح: بلاغك رقم #{ $task } في { $place }.
crew-location-updated = 📍 يصحح المواطن المكان: { $place }
detail-added = شكراً، أضفت هذا إلى بلاغك رقم #{ $task } للفريق.
crew-detail = ➕ يضيف المواطن: «{ $text }»
please-write = لا أستطيع سماع الرسائل الصوتية أو رؤية الملصقات. هل يمكنك كتابتها من فضلك؟

ask-location-offer = هل هو في { $place }، مثل المرة السابقة؟ أجب 1 (نعم) أو 2 (لا، في مكان آخر).

too-many-reports = أرسلت بلاغات كثيرة في الساعة الأخيرة (الحد الأقصى { $max }). انتظر قليلاً من فضلك؛ البلاغات التي أرسلتها قيد المعالجة.
flood-warning = ⚠ تجاوز أحد السكان { $max } بلاغاً في ساعة ({ $tasks })؛ لن تُسجل البلاغات التالية لمدة ساعة.

refuse-reaction = وحده فريق البلاغ رقم #{ $task } أو البلدية يمكنه تعليمه؛ هذا التفاعل لا يغير شيئاً.

# lost-and-found
lostfound-match = 🐾 تطابق محتمل: البلاغ رقم #{ $other } ({ $kind }) يشبه بلاغك رقم #{ $task }: «{ $description }». ستضعكما البلدية على تواصل.
lostfound-kind-lost = حيوان مفقود
lostfound-kind-found = حيوان معثور عليه
lostfound-crew = 🐾 يبدو أن #{ $task } و #{ $other } هما نفس الحيوان.
unreadable-message = لم أتمكن من قراءة رسالتك الأخيرة: وصلتني مشفرة بمفتاح لا أملكه. هل يمكنك إرسالها مرة أخرى؟
unverified-staff = هذه الرسالة باسم أحد أفراد فرق البلدية، لكن لم نتمكن من التحقق من أنها منه فعلاً، لذلك لم يُتخذ أي إجراء. إن كانت رسالتك فأرسلها مرة أخرى من حسابك المعتاد؛ وإلا يمكنك تجاهل هذا التنبيه.

# The public web board
web-event-created = تم استلام البلاغ
web-event-assigned = أُسند إلى { $value }
web-event-status = الحالة: { $value }
web-event-note = ملاحظة من الفريق
web-event-comment = يرد أحد الجيران
web-event-metoo = جار آخر متأثر أيضاً
web-board-title = بلاغات المدينة
web-filter-status = الحالة
web-filter-all = الكل
web-filter-open = مفتوحة
web-filter-closed = تم حلها
web-filter-category = النوع
web-filter-apply = عرض
web-col-category = النوع
web-col-place = المكان
web-col-status = الحالة
web-col-age = منذ
web-col-ack = استُلم خلال
web-col-resolved = حُل خلال
web-empty = لا توجد بلاغات للعرض.
web-prev = الأحدث
web-next = الأقدم
web-not-found = هذا البلاغ غير موجود أو ليس عاماً.
web-bad-filter = هذا النوع من البلاغات غير موجود.
web-metoo = الجيران المتأثرون
web-history = السجل
web-stats-title = الأرقام
web-stats-period = آخر 30 يوماً
web-stats-reports = بلاغات
web-stats-per-day = البلاغات في اليوم
web-stats-per-category = البلاغات حسب النوع
web-stats-private = بلاغات خاصة (تُعدّ فقط)
web-stats-triage = غير مصنفة بعد
web-stats-per-crew = سرعة استجابة كل فريق
web-stats-crew = الفريق
web-stats-satisfaction = ما يقوله السكان عن الإصلاحات
web-stats-fixed = عُلّمت مُصلحة
web-stats-rating = التقييم، من 1 إلى 5 (الردود)
web-stats-reopened = أعاد السكان فتحها
web-stats-backlog = المفتوحة في نهاية اليوم
web-stats-day = اليوم
web-chat-title = الإبلاغ عن مشكلة
web-chat-hello = مرحبًا! أخبرنا ما المشكلة وأين (الشارع والرقم)، وستحصل على رقم بلاغ. يمكنك متابعته هنا وعلى اللوحة العامة.
web-chat-placeholder = اكتب رسالتك
web-chat-send = إرسال
web-chat-where = 📍 أرسل موقعي
web-chat-mine = بلاغاتك
web-chat-privacy = لا يظهر اسمك ولا بيانات الاتصال بك للعامة أبدًا. يتذكرك هذا المتصفح بملف تعريف ارتباط، لا أكثر.
web-chat-empty = اكتب رسالة أولًا.
web-chat-too-long = هذه الرسالة أطول من أن تُرسل من هنا.
web-chat-bad-location = تعذرت قراءة هذا الموقع.
web-chat-busy = خدمة البلدية قيد التشغيل أو مشغولة؛ حاول مرة أخرى بعد قليل. لم يضع شيء.
open311-private-notice = تم الاستلام. يُعالَج هذا النوع من البلاغات بسرية: ليس له رقم علني ولا يُعرض في أي مكان عام.
web-filter-district = الحي
web-stats-per-day-average = بلاغًا في اليوم (آخر 30 يومًا)
web-stats-coordinated = مهمة منسقة منذ البداية
web-chat-too-many-new = بدأت محادثات جديدة كثيرة من شبكتك خلال الساعة الماضية. حاول لاحقًا، أو راسل البلدية عبر تطبيق المراسلة.

# ما يقوله المبلّغ عن الإصلاح
confirm-ask = هل تم الإصلاح؟ أجب 1 (نعم) أو 2 (لا)، بخصوص البلاغ #{ $task }.
button-fixed = 1 ✅ نعم، تم الإصلاح
button-not-fixed = 2 ❌ لا
confirm-thanks-rate = شكراً لإخبارنا. إن شئت، قيّم العمل في #{ $task } من 1 إلى 5 (5 = جيد جداً).
rate-thanks = شكراً! تقييمك يساعد الفرق.
crew-not-fixed = ↩️ #{ $task } لم يُصلح، يقول المبلّغ: «{ $text }»
crew-not-fixed-plain = ↩️ #{ $task } لم يُصلح، يقول المبلّغ.
confirm-reopened = أعدت فتح البلاغ #{ $task } وأخبرت { $crew }. نأسف لأنه لم يُصلح بعد.
confirm-closed-silent = لم يصلني رد بخصوص البلاغ #{ $task }، لذا أغلقته على أنه أُصلح. إن عادت المشكلة، أخبرني.
crew-thanks = 💐 المبلّغ يشكركم على #{ $task } ({ $category }).
public-credit = { $who ->
    [none] ✅ أصلحه { $crew }
   *[other] ✅ أصلحه { $crew } ({ $who })
}

# إضافة: المهل
deadline-remind-ack = ⏰ #{ $task } ({ $category }) ينتظر منذ { $waited } ساعة ولم يتولّه أحد بعد؛ هدف البلدة { $hours } ساعة.
deadline-remind-resolve = ⏰ #{ $task } ({ $category }) لم يُصلح بعد { $waited } ساعة؛ هدف البلدة { $hours } ساعة.
deadline-escalate-ack = 🚨 #{ $task } ({ $category }) ينتظر منذ { $waited } ساعة دون أن يتولاه أحد (الهدف: { $hours } ساعة). تم تذكير الفريق.
deadline-escalate-resolve = 🚨 #{ $task } ({ $category }) لم يُصلح بعد { $waited } ساعة (الهدف: { $hours } ساعة). تم تذكير الفريق.
deadline-late-ack = ⏳ بلاغك #{ $task } ({ $category }) يتأخر أكثر مما ينبغي: تهدف البلدة إلى أن يتولاه أحد خلال { $hours } ساعة. ذكّرت الفريق.
deadline-late-resolve = ⏳ بلاغك #{ $task } ({ $category }) يتأخر أكثر مما ينبغي: تهدف البلدة إلى إصلاحه خلال { $hours } ساعة. ذكّرت الفريق.
deadline-escalated = البلدية تتابع الآن بنفسها بلاغك #{ $task } ({ $category })، لأنه متأخر.

# Credit to crews
credit-on = شكراً، { $name }: ستذكرك اللوحة العامة عندما تصلح شيئاً. اكتب «credit off» لإيقاف ذلك.
credit-off = تم: لن تذكرك اللوحة العامة، بل فريقك فقط.
credit-how = اكتب اسمك الأول بعد «credit»، مثلاً «credit Luis»، أو «credit off».

# Districts
data-export-notices = طلبت إعلانات: { $districts }
refuse-other-district = البلاغ #{ $task } في { $district }: لا يمكن ذلك إلا لمسؤولي الحي أو لمنسقي البلدية.
district-none = لا حي

# إضافة: الحوادث
incident-opened = ⚠️ نُشر الحادث #{ $task } وهو على اللوحة { $until ->
    [none] حتى إشعار آخر
   *[other] حتى { $until }
}. البلاغات عن المشكلة نفسها هناك تُضم إليه؛ اكتبوا «done #{ $task }» عند انتهائه.
incident-known = ⚠️ نعلم بذلك: «{ $notice }» (#{ $task })، { $until ->
    [none] حتى إشعار آخر
   *[other] متوقع حتى { $until }
}. سجلتك وسأخبرك عند انتهائه.
incident-ended = ✅ انتهى: «{ $notice }» (#{ $task }). شكراً لصبرك؛ إن بقي شيء على غير ما يرام، أخبرني.
incident-which-category = ما نوع المشكلة؟ اذكره في الإعلان (الفئات: { $categories }).

# إضافة: ملخص البلدية
digest-header = 🗞 أمس ({ $day }): { $reports } بلاغ، { $resolved } حُل، { $closed } أُغلق. مفتوح الآن: { $open }، منها { $late } متأخر.
digest-crew = · { $crew }: تولاه خلال { $ack }، أصلحه خلال { $resolve } (الوسيط)
digest-ratings = · تقييم السكان لإصلاحات أمس: { $mean } من 5 ({ $count })
digest-no-ratings = · لا تقييمات لإصلاحات أمس.

# إضافة: الإعلانات
notice-public = 📣 من البلدية: { $text }
notice-public-district = 📣 { $district }: { $text }
notice-posted = نُشر في الغرفة العامة{ $count ->
    [0] .
   *[other] ، وأُرسل إلى { $count } من السكان الذين طلبوا الإعلانات.
}
notice-subscribed = سأرسل لك إعلانات البلدية. اكتب «stop notices» لإيقافها.
notice-subscribed-district = سأرسل لك إعلانات { $district } (وإعلانات البلدة كلها). اكتب «stop notices» لإيقافها.
notice-unsubscribed = { $count ->
    [0] لم تكن تتلقى إعلانات.
   *[other] تم: لا مزيد من الإعلانات.
}
